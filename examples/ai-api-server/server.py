"""The AI API server of the course chapter (seed 004): FastAPI + uvicorn, a model, a SQLite request log.

The model is a real one that ships with its PyPI package: a logistic-regression classifier trained at start-up on
the Iris data set bundled inside the scikit-learn wheel, so nothing is downloaded at run time.

It runs the same with plain `docker run -p 8000:8000 <image>` and as a Longshore HttpEndpoint (RunPod's
load-balancing worker contract): it listens on $PORT (default 8000) and answers /ping with 204 while the model
loads and 200 once it serves. The request log is ./data/ai_api.db (the endpoint mounts its volume at /app/data).
"""
import asyncio
import json
import os
import socket
import sqlite3
import threading
import time
from contextlib import asynccontextmanager
from typing import List

import uvicorn
from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

DB_PATH = os.environ.get("DB_PATH", os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ai_api.db"))
# the worker's name: RunPod sets RUNPOD_POD_ID (Longshore too); under plain docker run, the container's hostname
WORKER = os.environ.get("RUNPOD_POD_ID") or socket.gethostname()

state = {"model": None, "classes": None, "accuracy": None}
db_lock = threading.Lock()


def load_model() -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    model = LogisticRegression(max_iter=1000).fit(data.data, data.target)
    state["classes"] = [str(c) for c in data.target_names]
    state["accuracy"] = round(float(model.score(data.data, data.target)), 4)
    state["model"] = model


def db() -> sqlite3.Connection:
    conn = sqlite3.connect(DB_PATH, timeout=10)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL, worker TEXT,"
        " features TEXT, prediction TEXT, latency_ms REAL)"
    )
    return conn


def log_request(features: List[float], prediction: str, latency_ms: float) -> int:
    with db_lock, db() as conn:
        cur = conn.execute(
            "INSERT INTO requests (ts, worker, features, prediction, latency_ms) VALUES (?, ?, ?, ?, ?)",
            (time.time(), WORKER, json.dumps(features), prediction, latency_ms),
        )
        return int(cur.lastrowid)


@asynccontextmanager
async def lifespan(_app: FastAPI):
    os.makedirs(os.path.dirname(DB_PATH), exist_ok=True)
    db().close()
    # load in the background: the server answers /ping (204 "initializing") meanwhile
    threading.Thread(target=load_model, daemon=True).start()
    yield


app = FastAPI(title="AI API server", lifespan=lifespan)


class PredictRequest(BaseModel):
    features: List[float] = Field(..., min_length=4, max_length=4, description="sepal length, sepal width, petal length, petal width (cm)")
    # stand-in for a larger model's inference time (the e2e suite uses it to keep requests in flight)
    simulate_ms: int = Field(0, ge=0, le=10_000)


@app.get("/ping")
async def ping():
    if state["model"] is None:
        return Response(status_code=204)
    return {"status": "healthy", "worker": WORKER}


@app.get("/")
async def root():
    return {"service": "AI API server", "model": "iris logistic regression", "ready": state["model"] is not None}


def predict_one(features: List[float]):
    model = state["model"]
    if model is None:
        raise HTTPException(status_code=503, detail="model is still loading")
    probs = model.predict_proba([features])[0]
    best = int(probs.argmax())
    return state["classes"][best], {c: round(float(p), 4) for c, p in zip(state["classes"], probs)}


@app.post("/predict")
async def predict(req: PredictRequest):
    t0 = time.perf_counter()
    label, probabilities = predict_one(req.features)
    if req.simulate_ms:
        await asyncio.sleep(req.simulate_ms / 1000)
    latency = (time.perf_counter() - t0) * 1000
    request_id = await asyncio.to_thread(log_request, req.features, label, latency)
    return {"prediction": label, "probabilities": probabilities, "worker": WORKER, "request_id": request_id}


@app.post("/predict/stream")
async def predict_stream(req: PredictRequest):
    """Server-sent events: one event per class probability, then the prediction."""
    label, probabilities = predict_one(req.features)

    async def events():
        for c, p in probabilities.items():
            yield f"data: {json.dumps({'class': c, 'probability': p})}\n\n"
            await asyncio.sleep(0.1)
        yield f"data: {json.dumps({'prediction': label, 'worker': WORKER})}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@app.get("/history")
async def history(limit: int = 10):
    def read():
        with db_lock, db() as conn:
            rows = conn.execute(
                "SELECT id, ts, worker, features, prediction, latency_ms FROM requests ORDER BY id DESC LIMIT ?", (max(1, min(limit, 1000)),)
            ).fetchall()
            total = conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        return total, rows

    total, rows = await asyncio.to_thread(read)
    return {
        "total": total,
        "requests": [
            {"id": r[0], "ts": r[1], "worker": r[2], "features": json.loads(r[3]), "prediction": r[4], "latency_ms": round(r[5], 2)} for r in rows
        ],
    }


if __name__ == "__main__":
    uvicorn.run(app, host="0.0.0.0", port=int(os.environ.get("PORT", "8000")))
