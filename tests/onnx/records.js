// Record streams (share/record-stream.md) for the tests' Node.js scripts: a batch written from
// values, and read back as a flat Float32Array with its per-sample shape; and the CSV that
// cnn-extract-features writes, compared with another implementation's outputs.
'use strict';
const fs = require('fs');

// values(i, k): sample i's value k; the labels are 0 and the one class is 'x'.
function writeRecords(file, shape, n, values) {
  const per = shape.reduce((a, b) => a * b, 1);
  const header = Buffer.from(JSON.stringify({
    shape, dtype: 'float32', label: 'int32', classes: ['x'], class_mode: 'sparse', count: n,
  }));
  const pre = Buffer.alloc(16);
  Buffer.from([0x89, 0x43, 0x4e, 0x4e, 0x52, 0x45, 0x43, 0x0a]).copy(pre, 0);
  pre.writeUInt32LE(1, 8);
  pre.writeUInt32LE(header.length, 12);
  const records = Buffer.alloc(n * (4 + 4 * per));
  for (let i = 0; i < n; ++i) {
    const at = i * (4 + 4 * per);
    records.writeInt32LE(0, at);
    for (let k = 0; k < per; ++k) records.writeFloatLE(values(i, k), at + 4 + 4 * k);
  }
  fs.writeFileSync(file, Buffer.concat([pre, header, records]));
}

function readRecords(file) {
  const b = fs.readFileSync(file);
  const hl = b.readUInt32LE(12);
  const h = JSON.parse(b.subarray(16, 16 + hl).toString());
  const per = h.shape.reduce((a, c) => a * c, 1);
  const x = new Float32Array(h.count * per);
  for (let i = 0; i < h.count; ++i) {
    const at = 16 + hl + i * (4 + 4 * per) + 4;
    for (let k = 0; k < per; ++k) x[i * per + k] = b.readFloatLE(at + 4 * k);
  }
  return {shape: h.shape, n: h.count, per, x};
}

// The rows of cnn-extract-features' CSV (header dropped), each a list of its fields.
function csvRows(file) {
  return fs.readFileSync(file, 'utf8').trim().split('\n').slice(1).map((line) => line.split(','));
}

// Over the first k fields of rows against values (k per row, row-major): the largest
// |difference| and the largest |field|.
function maxDifference(rows, values, k) {
  let worst = 0, scale = 0;
  rows.forEach((row, i) => {
    for (let j = 0; j < k; ++j) {
      const f = Number(row[j]);
      worst = Math.max(worst, Math.abs(f - values[i * k + j]));
      scale = Math.max(scale, Math.abs(f));
    }
  });
  return {worst, scale};
}

module.exports = {writeRecords, readRecords, csvRows, maxDifference};
