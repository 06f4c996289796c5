"""Iris classifier worker: the model is baked into the image at build time (builder/bake_model.py)
and loaded ONCE at start, outside the handler, so it stays warm between jobs. Nothing is downloaded
at run time; a missing model file is a start-up error, not a silent fallback."""
import os
import sys

import joblib
import runpod

MODEL_PATH = os.environ.get("MODEL_PATH", "/models/iris.joblib")

if not os.path.exists(MODEL_PATH):
    print(f"model file {MODEL_PATH} not found: it must be baked into the image at build time", file=sys.stderr)
    sys.exit(1)

_bundle = joblib.load(MODEL_PATH)
MODEL = _bundle["model"]
CLASSES = _bundle["classes"]
N_FEATURES = MODEL.n_features_in_


def handler(job):
    features = job["input"].get("features")
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(row, list) and len(row) == N_FEATURES for row in features)
        or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for row in features for x in row)
    ):
        return {"error": f"input.features must be a non-empty list of rows of {N_FEATURES} numbers "
                         "(sepal length, sepal width, petal length, petal width in cm)"}
    predictions = MODEL.predict(features)
    return {"species": [CLASSES[int(i)] for i in predictions]}


runpod.serverless.start({"handler": handler})
