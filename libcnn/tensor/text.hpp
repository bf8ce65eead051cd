// Small text helpers shared by every layer of libcnn.
#pragma once

#include <string>
#include <string_view>

namespace cnn {

// s in lower case (ASCII), for names compared without case ("RMSprop", "dense").
std::string lower(std::string s);

// s for a terminal: control characters (an escape sequence in a class name read from a file)
// become '?', so that text from an input cannot move the cursor or recolour the screen.
std::string printable(std::string_view s);

}  // namespace cnn
