"""Build-time step: train the model and write it into the image.

The Iris data set ships inside the scikit-learn wheel (sklearn/datasets/data/iris.csv), so nothing is
downloaded here or at run time. A real worker would copy or fetch its weights at this step instead —
the point is the same: weights live in the image, the worker never downloads them when it starts.
"""
import json
import os
import sys

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main(out_path: str) -> None:
    data = load_iris()
    model = LogisticRegression(max_iter=1000)
    model.fit(data.data, data.target)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    joblib.dump({"model": model, "classes": [str(c) for c in data.target_names]}, out_path)
    meta = {"path": out_path, "train_accuracy": round(float(model.score(data.data, data.target)), 4)}
    print(json.dumps(meta))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/models/iris.joblib")
