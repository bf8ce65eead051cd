#!/usr/bin/env bash
# The lecture's transfer-learning workflow on cats vs dogs with the ImageNet-pretrained
# SqueezeNet 1.1 (../shared/data/squeezenet1.1), as measured in the README:
#   1. import the .npy weights;
#   2. fast feature extraction (the 512 channels of fire9, globally averaged) for the train,
#      validation and test folders, and a small Dense head trained on them by cnn-train;
#   3. fine-tuning: the base frozen under a new head with augmentation, then fire8 and fire9
#      unfrozen with a small learning rate.
# usage: scripts/transfer_squeezenet.sh [OUT_DIR (default runs/transfer)] [BIN_DIR (default build/bin)]
set -euo pipefail
out=${1:-runs/transfer}
bin=${2:-build/bin}
data=../shared/data
cats=$data/cats_and_dogs_filtered
mkdir -p "$out"

"$bin/cnn-import" npy "$data/squeezenet1.1/weights" --model configs/models/squeezenet1_1.json \
  --map configs/import/squeezenet1_1_npy_map.json --classes "$data/squeezenet1.1/synset.txt" \
  -o "$out/squeezenet" --overwrite

# 2. Features + a Dense head (the lecture's: Dense 256, Dropout 0.5, Dense 1; RMSprop 2e-5, batch 20).
for split in train validation; do
  "$bin/cnn-extract-features" "$out/squeezenet" --layer fire9_concat --pool avg \
    --data "$cats/$split" -o "$out/features_$split.cnnrec" --json
done
"$bin/cnn-extract-features" "$out/squeezenet" --layer fire9_concat --pool avg \
  --data "$data/cats_and_dogs_test/test" -o "$out/features_test.cnnrec" --json
"$bin/cnn-train" --model configs/models/features_head_512.json --data "$out/features_train.cnnrec" \
  --validation "$out/features_validation.cnnrec" --loss binary_crossentropy --class-mode binary \
  --optimizer RMSprop --learning-rate 2e-5 --batch-size 20 --epochs 30 --seed 1 \
  -o "$out/head" --overwrite --json
"$bin/cnn-eval" "$out/head" --data "$out/features_validation.cnnrec" --json
"$bin/cnn-eval" "$out/head" --data "$out/features_test.cnnrec" --json

# 3. Fine-tuning: stage 1 trains a new head (the same as above) on the frozen base with the
# lecture's augmentation; stage 2 unfreezes fire8 and fire9 with a 10x smaller learning rate.
"$bin/cnn-finetune" "$out/squeezenet" --cut-at fire9_concat --head avg,dense:256,dropout:0.5,dense:1:sigmoid \
  --freeze all --data "$cats/train" --validation "$cats/validation" --class-mode binary \
  --augment configs/augment/lecture.json --optimizer RMSprop --learning-rate 1e-4 --batch-size 20 \
  --epochs 15 --seed 1 -o "$out/stage1" --overwrite --json
"$bin/cnn-finetune" "$out/stage1" --unfreeze-from fire8_squeeze1x1 --learning-rate 1e-5 --epochs 10 \
  -o "$out/stage2" --overwrite --json
for run in stage1 stage2; do
  "$bin/cnn-eval" "$out/$run" --data "$cats/validation" --json
  "$bin/cnn-eval" "$out/$run" --data "$data/cats_and_dogs_test/test" --json
done
