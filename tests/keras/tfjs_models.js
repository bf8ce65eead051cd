// Builds Keras models in TensorFlow.js (an independent port of Keras's layers), with
// non-trivial weights, and writes for each: NAME/model.json + NAME/weights.bin (the TensorFlow.js
// layers-model format, whose topology is Keras's JSON), NAME/keras.json (model.toJSON(): the
// to_json() text alone), NAME/x.cnnrec (a batch of inputs as a record stream,
// share/record-stream.md) and NAME/expected.json (TensorFlow.js's predictions and the output
// layer's name).
//   node tfjs_models.js OUT_DIR          write the models
//   node tfjs_models.js --compare EXPECTED.json FEATURES.csv
//                                         max |difference| between the predictions and a CSV of
//                                         cnn-extract-features, printed; exit 1 above 1e-5
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const {writeRecords, csvRows, maxDifference} = require('../onnx/records.js');

// A deterministic generator (tfjs's own initialisers draw from Math.random).
let state = 12345;
function rand() {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
}
function randomTensor(shape, lo, hi) {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; ++i) v[i] = lo + (hi - lo) * rand();
  return tf.tensor(v, shape);
}
// Every weight drawn again: kernels and biases in [-0.5, 0.5]; BatchNormalization's gamma and
// moving variance positive, so the normalisation is not the identity.
function randomizeWeights(model) {
  for (const layer of model.layers) {
    const ws = layer.weights;
    if (!ws.length) continue;
    layer.setWeights(ws.map((w) => {
      const n = w.originalName || w.name;
      if (/gamma|moving_variance/.test(n)) return randomTensor(w.shape, 0.5, 1.5);
      return randomTensor(w.shape, -0.5, 0.5);
    }));
  }
}

function models() {
  const list = [];
  {
    // The lecture's convnet shape: Sequential, valid and same convolutions, both poolings.
    const m = tf.sequential({name: 'seq_convnet'});
    m.add(tf.layers.conv2d({inputShape: [12, 12, 3], filters: 8, kernelSize: 3,
                            activation: 'relu'}));
    m.add(tf.layers.maxPooling2d({poolSize: 2}));
    m.add(tf.layers.conv2d({filters: 16, kernelSize: 3, padding: 'same', activation: 'relu',
                            kernelInitializer: 'heNormal'}));
    m.add(tf.layers.averagePooling2d({poolSize: 2}));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dropout({rate: 0.5}));
    m.add(tf.layers.dense({units: 10, activation: 'softmax'}));
    list.push(m);
  }
  {
    // Functional: a residual Add, BatchNormalization, a ReLU layer, zero padding, a strided
    // convolution, Inception-style Concatenate, global pooling and sigmoid units.
    const input = tf.input({shape: [10, 10, 4], name: 'image'});
    const a = tf.layers.conv2d({filters: 8, kernelSize: 1, padding: 'same', name: 'a'}).apply(input);
    const b = tf.layers.conv2d({filters: 8, kernelSize: 3, padding: 'same', name: 'b'}).apply(input);
    const sum = tf.layers.add({name: 'sum'}).apply([a, b]);
    const bn = tf.layers.batchNormalization({name: 'bn'}).apply(sum);
    const r = tf.layers.reLU({name: 'relu'}).apply(bn);
    const p = tf.layers.zeroPadding2d({padding: 1, name: 'pad'}).apply(r);
    const s = tf.layers.conv2d({filters: 6, kernelSize: 3, strides: 2, activation: 'elu',
                                name: 'stride2'}).apply(p);
    const c1 = tf.layers.conv2d({filters: 4, kernelSize: 1, activation: 'tanh', name: 'c1'}).apply(s);
    const c2 = tf.layers.conv2d({filters: 5, kernelSize: 3, padding: 'same', activation: 'sigmoid',
                                 name: 'c2'}).apply(s);
    const cat = tf.layers.concatenate({name: 'cat'}).apply([c1, c2]);
    const g = tf.layers.globalAveragePooling2d({name: 'gap'}).apply(cat);
    const out = tf.layers.dense({units: 3, activation: 'sigmoid', name: 'out'}).apply(g);
    list.push(tf.model({inputs: input, outputs: out, name: 'functional'}));
  }
  {
    // A vector model: Dense layers, BatchNormalization over features, a Softmax layer,
    // global max pooling before them.
    const input = tf.input({shape: [6, 6, 2]});
    const g = tf.layers.globalMaxPooling2d({}).apply(input);
    const d = tf.layers.dense({units: 7, activation: 'relu'}).apply(g);
    const bn = tf.layers.batchNormalization({epsilon: 0.01}).apply(d);
    const l = tf.layers.dense({units: 4}).apply(bn);
    const sm = tf.layers.softmax().apply(l);
    list.push(tf.model({inputs: input, outputs: sm, name: 'vector_head'}));
  }
  return list;
}

async function write(out) {
  for (const m of models()) {
    randomizeWeights(m);
    const dir = path.join(out, m.name);
    fs.mkdirSync(dir, {recursive: true});
    await m.save(tf.io.withSaveHandler(async (artifacts) => {
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(artifacts.weightData));
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({
        format: 'layers-model', generatedBy: 'TensorFlow.js tfjs-layers',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{paths: ['weights.bin'], weights: artifacts.weightSpecs}],
      }));
      return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
    }));
    fs.writeFileSync(path.join(dir, 'keras.json'), JSON.stringify(m.toJSON(null, false)));
    const x = randomTensor([5, ...m.inputs[0].shape.slice(1)], -1, 2);
    const y = m.predict(x);
    const values = x.dataSync(), per = values.length / x.shape[0];
    writeRecords(path.join(dir, 'x.cnnrec'), x.shape.slice(1), x.shape[0],
                 (i, k) => values[i * per + k]);
    fs.writeFileSync(path.join(dir, 'expected.json'), JSON.stringify({
      output_layer: m.outputs[0].sourceLayer.name, shape: y.shape, values: Array.from(y.dataSync()),
    }));
  }
}

function compare(expectedPath, csvPath) {
  const e = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
  const rows = csvRows(csvPath);
  if (rows.length !== e.shape[0]) throw new Error(`${rows.length} rows, expected ${e.shape[0]}`);
  const {worst} = maxDifference(rows, e.values, e.shape[1]);
  console.log(`${path.basename(path.dirname(expectedPath))}: max |cnn - tfjs| = ${worst.toExponential(2)}`);
  if (!(worst <= 1e-5)) process.exit(1);
}

if (process.argv[2] === '--compare') compare(process.argv[3], process.argv[4]);
else write(process.argv[2]).catch((err) => { console.error(err); process.exit(1); });
