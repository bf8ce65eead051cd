// AtomicFile and the input helpers: outputs appear whole or not at all, and every failure names
// the path and says what went wrong.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>

#include "io/atomic_file.hpp"
#include "io/temp_dir.hpp"
#include "tensor/error.hpp"

using cnn::InputError;
using cnn::IoError;
using cnn::io::AtomicFile;
using cnn::io::InputFile;
using cnn::io::read_file;
using cnn::io::write_file_atomically;
using cnn::test::TempDir;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("atomic write creates and then replaces the file, leaving no temp file") {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  const std::string first("first\0content", 13);
  write_file_atomically(path, first);
  CHECK(read_file(path) == first);
  write_file_atomically(path, [](AtomicFile& f) {
    f.write("second");
    f.write(" part", 5);
    CHECK(f.size() == 11);
  });
  CHECK(read_file(path) == "second part");
  CHECK(dir.entries() == std::set<std::string>{"out.bin"});
}

TEST_CASE("a writer that throws midway leaves the old file intact and no temp file") {
  TempDir dir;
  const std::string path = dir.file("weights.bin");
  write_file_atomically(path, "old content");
  std::string temp;
  CHECK_THROWS_WITH_AS(write_file_atomically(path,
                                             [&](AtomicFile& f) {
                                               temp = f.temp_path();
                                               f.write("new content that never lands");
                                               CHECK(std::filesystem::exists(temp));
                                               throw std::runtime_error("disk on fire");
                                             }),
                       "disk on fire", std::runtime_error);
  CHECK(contains(temp, path + ".tmp."));
  CHECK(read_file(path) == "old content");
  CHECK(dir.entries() == std::set<std::string>{"weights.bin"});
}

TEST_CASE("an AtomicFile destroyed without commit creates nothing") {
  TempDir dir;
  const std::string path = dir.file("never.bin");
  {
    AtomicFile f(path);
    f.write("abandoned");
  }
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK(dir.entries().empty());
}

TEST_CASE("temporary names are unique per writer, and writes after commit throw") {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  AtomicFile one(path);
  AtomicFile two(path);
  CHECK(one.temp_path() != two.temp_path());
  one.write("one");
  two.write("two");
  two.commit();
  one.commit();  // the last commit wins, and both are whole
  CHECK(read_file(path) == "one");
  CHECK_THROWS_AS(one.write("more"), IoError);
  CHECK_THROWS_AS(one.commit(), IoError);
  CHECK(dir.entries() == std::set<std::string>{"a.bin"});
}

TEST_CASE("writing into a missing directory gives IoError naming the path") {
  TempDir dir;
  const std::string path = dir.file("missing/sub/out.bin");
  try {
    write_file_atomically(path, "x");
    FAIL("no throw");
  } catch (const IoError& e) {
    const std::string m = e.what();
    CHECK(contains(m, path + ": cannot create temporary file"));
    CHECK(contains(m, "No such file or directory"));
  }
  CHECK(dir.entries().empty());
}

TEST_CASE("committing over a directory fails cleanly") {
  TempDir dir;
  const std::string path = dir.file("taken");
  std::filesystem::create_directory(path);
  try {
    write_file_atomically(path, "x");
    FAIL("no throw");
  } catch (const IoError& e) {
    CHECK(contains(e.what(), path + ": cannot rename"));
  }
  CHECK(dir.entries() == std::set<std::string>{"taken"});
  CHECK(std::filesystem::is_directory(path));
}

TEST_CASE("read_file says which input is missing, a directory or unreadable") {
  TempDir dir;
  CHECK_THROWS_WITH_AS(read_file(dir.file("nope.txt")),
                       (dir.file("nope.txt") + ": no such file").c_str(), InputError);
  CHECK_THROWS_WITH_AS(read_file(dir.path()), (dir.path() + ": is a directory").c_str(),
                       InputError);
  write_file_atomically(dir.file("plain"), "x");
  CHECK_THROWS_WITH_AS(
      read_file(dir.file("plain/child")),
      (dir.file("plain/child") + ": no such file (a parent is not a directory)").c_str(),
      InputError);
  // Permission bits do not stop root, so this part only runs for other users.
  if (::geteuid() != 0) {
    const std::string secret = dir.file("secret");
    write_file_atomically(secret, "x");
    REQUIRE(::chmod(secret.c_str(), 0) == 0);
    CHECK_THROWS_WITH_AS(read_file(secret), (secret + ": permission denied").c_str(), InputError);
  }
}

TEST_CASE("InputFile reads ranges and rejects non-regular files") {
  TempDir dir;
  const std::string path = dir.file("data.bin");
  write_file_atomically(path, "0123456789");
  InputFile in(path);
  CHECK(in.size() == 10);
  char buf[4];
  in.read_at(3, buf, 4);
  CHECK(std::string(buf, 4) == "3456");
  CHECK_THROWS_WITH_AS(in.read_at(8, buf, 4),
                       doctest::Contains((path + ": unexpected end of file at byte 10").c_str()),
                       InputError);
  CHECK_THROWS_WITH_AS(InputFile("/dev/null"),
                       "/dev/null: is not a regular file (a FIFO or a device would hang or never "
                       "end)",
                       InputError);
  CHECK_THROWS_WITH_AS(InputFile(dir.path()), (dir.path() + ": is a directory").c_str(),
                       InputError);
}

TEST_CASE("check_writable_directory probes without leaving anything behind") {
  TempDir dir;
  CHECK_NOTHROW(cnn::io::check_writable_directory(dir.path()));
  CHECK(dir.entries().empty());
  const std::string missing = dir.file("missing");
  CHECK_THROWS_WITH_AS(
      cnn::io::check_writable_directory(missing),
      (missing + ": cannot create files in the directory: No such file or directory").c_str(),
      IoError);
  write_file_atomically(dir.file("file"), "x");
  CHECK_THROWS_WITH_AS(cnn::io::check_writable_directory(dir.file("file")),
                       doctest::Contains("Not a directory"), IoError);
  if (::geteuid() != 0) {
    const std::string locked = dir.file("locked");
    std::filesystem::create_directory(locked);
    REQUIRE(::chmod(locked.c_str(), 0500) == 0);
    CHECK_THROWS_WITH_AS(cnn::io::check_writable_directory(locked),
                         doctest::Contains("Permission denied"), IoError);
  }
}
