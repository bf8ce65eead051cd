// cnn-export keras-h5 against TensorFlow.js: the exported model.to_json() text rebuilt with
// tf.models.modelFromJSON, its weights set from the exported HDF5 (read by h5_weights.py), and
// its predictions compared with cnn-extract-features' CSV on the same inputs.
//   node keras_rebuild.js MODEL.json WEIGHTS_PREFIX X.cnnrec FEATURES.csv TOL
// Prints the max |difference|; exit 1 above TOL.
'use strict';
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const {readRecords, csvRows, maxDifference} = require('../onnx/records.js');

function readInputs(file) {
  const r = readRecords(file);
  return tf.tensor(r.x, [r.n, ...r.shape]);
}

async function main([modelPath, weightsPrefix, xPath, csvPath, tol]) {
  const topology = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  const model = await tf.models.modelFromJSON({modelTopology: topology});
  const manifest = JSON.parse(fs.readFileSync(weightsPrefix + '.json', 'utf8'));
  const bin = fs.readFileSync(weightsPrefix + '.bin');
  const byName = new Map();
  let offset = 0;
  for (const w of manifest) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(bin.buffer.slice(bin.byteOffset + offset, bin.byteOffset + offset + 4 * n));
    byName.set(w.name, tf.tensor(values, w.shape));
    offset += 4 * n;
  }
  const weights = model.weights.map((v) => {
    const t = byName.get(v.originalName);
    if (!t) throw new Error(`the HDF5 file has no weight ${v.originalName}`);
    byName.delete(v.originalName);
    return t;
  });
  if (byName.size) throw new Error(`weights the model does not use: ${[...byName.keys()]}`);
  model.setWeights(weights);
  const y = model.predict(readInputs(xPath));
  const k = y.shape.slice(1).reduce((a, b) => a * b, 1);
  const rows = csvRows(csvPath);
  const {worst} = maxDifference(rows, y.dataSync(), k);
  console.log(`${topology.config.name}: max |cnn - tfjs| = ${worst.toExponential(2)} ` +
              `(${rows.length} samples x ${k} outputs, ${model.weights.length} weights)`);
  if (!(worst <= Number(tol))) process.exit(1);
}

main(process.argv.slice(2)).catch((err) => { console.error(String(err)); process.exit(1); });
