// cnn-export onnx against an independent runtime: ONNX Runtime (onnxruntime-node from npm,
// installed by scripts/install-deps.sh into build-npm/).
//   node ort_check.js inputs SHAPE N LO HI OUT.cnnrec
//        a deterministic batch of N inputs of per-sample SHAPE (JSON, e.g. [28,28,1]), values
//        uniform in [LO, HI], as a record stream that cnn-extract-features reads
//   node ort_check.js compare MODEL.onnx X.cnnrec FEATURES.csv TOL
//        runs the model in ONNX Runtime on the batch (all N at once, and one sample at a time:
//        the batch dimension is symbolic), prints the max |difference| from the CSV of
//        cnn-extract-features and exits 1 above TOL; also checks the input and output
//        declarations (float32, symbolic batch, the per-sample shape of the batch); a TOL of
//        rel:R bounds the difference by R times the largest |value| of the CSV instead
'use strict';
const fs = require('fs');
const path = require('path');
const {writeRecords, readRecords, csvRows, maxDifference} = require('./records.js');

let state = 20261204;
function rand() {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
}

function writeInputs(shape, n, lo, hi, out) {
  writeRecords(out, shape, n, () => lo + (hi - lo) * rand());
}

async function compare(modelPath, xPath, csvPath, tol) {
  const ort = require('onnxruntime-node');  // here: writing inputs needs Node.js alone
  const s = await ort.InferenceSession.create(modelPath);
  const inp = readRecords(xPath);
  const [inName] = s.inputNames;
  const [outName] = s.outputNames;
  const rows = csvRows(csvPath);
  if (rows.length !== inp.n) throw new Error(`${rows.length} CSV rows, expected ${inp.n}`);
  let worst = 0, k = 0, scale = 0;
  const check = (data, first, count) => {
    k = data.length / count;
    const d = maxDifference(rows.slice(first, first + count), data, k);
    worst = Math.max(worst, d.worst);
    scale = Math.max(scale, d.scale);
  };
  // The whole batch at once, then every sample alone.
  const all = await s.run({[inName]: new ort.Tensor('float32', inp.x, [inp.n, ...inp.shape])});
  check(all[outName].data, 0, inp.n);
  for (let i = 0; i < inp.n; ++i) {
    const one = inp.x.subarray(i * inp.per, (i + 1) * inp.per);
    const r = await s.run({[inName]: new ort.Tensor('float32', one, [1, ...inp.shape])});
    check(r[outName].data, i, 1);
  }
  const name = path.basename(modelPath);
  const relative = String(tol).startsWith('rel:');
  const bound = relative ? Number(String(tol).slice(4)) * scale : Number(tol);
  console.log(`${name}: max |cnn - onnxruntime| = ${worst.toExponential(2)}` +
              (relative ? ` (${(worst / scale).toExponential(2)} of the largest |value| ${scale.toPrecision(4)})` : '') +
              ` (${inp.n} samples x ${k} outputs, batch ${inp.n} and batch 1)`);
  if (!(worst <= bound)) process.exit(1);
}

const [cmd, ...a] = process.argv.slice(2);
if (cmd === 'inputs') {
  writeInputs(JSON.parse(a[0]), Number(a[1]), Number(a[2]), Number(a[3]), a[4]);
} else if (cmd === 'compare') {
  compare(a[0], a[1], a[2], a[3]).catch((err) => { console.error(String(err)); process.exit(1); });
} else {
  console.error('usage: ort_check.js inputs SHAPE N LO HI OUT | compare MODEL X CSV TOL');
  process.exit(2);
}
