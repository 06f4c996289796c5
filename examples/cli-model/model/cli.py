"""wine-cli: classify wines from their 13 chemical measurements.

    python cli.py predict --features '[[14.23, 1.71, ...], ...]' [--top 2]
    python cli.py info

Prints one JSON object on stdout; errors go to stderr with exit code 2.
"""
import argparse
import json
import os
import sys

MODEL = os.environ.get("MODEL_PATH", os.path.join(os.path.dirname(os.path.abspath(__file__)), "wine.joblib"))


def load():
    if not os.path.exists(MODEL):
        print(f"wine-cli: model file {MODEL} is missing (it is baked into the image at build time)", file=sys.stderr)
        sys.exit(3)
    import joblib

    return joblib.load(MODEL)


def main(argv):
    parser = argparse.ArgumentParser(prog="wine-cli", description="Classify wines (scikit-learn, wine data set).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="classify one or more wines")
    p.add_argument("--features", required=True, help="JSON list of rows of 13 numbers")
    p.add_argument("--top", type=int, default=1, help="how many classes to rank per wine")
    sub.add_parser("info", help="describe the model")
    args = parser.parse_args(argv)

    bundle = load()
    if args.command == "info":
        print(json.dumps({"classes": bundle["classes"], "features": bundle["features"]}))
        return
    try:
        rows = json.loads(args.features)
    except json.JSONDecodeError as e:
        parser.error(f"--features is not JSON: {e}")
    n = len(bundle["features"])
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) and len(r) == n for r in rows):
        parser.error(f"--features must be a non-empty list of rows of {n} numbers")
    if not 1 <= args.top <= len(bundle["classes"]):
        parser.error(f"--top must be between 1 and {len(bundle['classes'])}")
    proba = bundle["model"].predict_proba(rows)
    out = []
    for row in proba:
        ranked = sorted(range(len(row)), key=lambda i: -row[i])[: args.top]
        out.append([bundle["classes"][i] for i in ranked])
    print(json.dumps({"classes": out}))


if __name__ == "__main__":
    main(sys.argv[1:])
