"""Build-time step: train the wine classifier and write it next to the CLI.

The wine data set ships inside the scikit-learn wheel (sklearn/datasets/data/wine_data.csv), so the image
build downloads no data and the CLI never downloads weights.
"""
import sys

import joblib
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

data = load_wine()
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
model.fit(data.data, data.target)
joblib.dump({"model": model, "classes": [str(c) for c in data.target_names], "features": list(data.feature_names)}, sys.argv[1])
print(f"trained, accuracy on the training set {model.score(data.data, data.target):.3f}", file=sys.stderr)
