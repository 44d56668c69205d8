"""Slow, loop-by-loop transcriptions of each loss straight from its formula (float64, Python floats).

They exist only to check the vectorised losses; nothing here is fast or clever on purpose.
"""

from __future__ import annotations

import math


def _unit(row):
    norm = math.sqrt(sum(x * x for x in row))
    return [x / norm for x in row] if norm > 0 else list(row)


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def _rows(x):
    return [_unit([float(e) for e in row]) for row in x.tolist()]


def crossclr_reference(v, t, vf=None, tf=None, queue=None, tau=0.03, lam=0.8, gamma=0.9, kappa=3.5e-3,
                       intra_weight_on="similarity"):
    """CrossCLR for one batch. ``queue``: dict of lists ``video, text, video_feat, text_feat`` (rows)."""
    v, t = _rows(v), _rows(t)
    b = len(v)
    queue = queue or {"video": [], "text": [], "video_feat": [], "text_feat": []}
    use_feat = gamma is not None or kappa is not None

    def conn(feats, qfeats):
        out = []
        for i in range(b):
            sims = [_dot(feats[i], feats[j]) for j in range(b) if j != i] + [_dot(feats[i], q) for q in qfeats]
            out.append(sum(sims) / len(sims))
        return out

    def influential(c):
        top = max(c)
        if gamma is None or top <= 0:
            return [False] * b
        return [ci / top > gamma for ci in c]

    def weights(c):
        total = sum(c)
        if kappa is None or total <= 0:
            return [1.0] * b
        return [math.exp(ci / total / kappa) for ci in c]

    def delta(a, x):
        return math.exp(_dot(a, x) / tau)

    def intra_term(a, x):
        if intra_weight_on == "similarity":
            return lam * delta(a, x)
        return math.exp(lam * _dot(a, x) / tau)

    def side(anchors, others, q_same, infl, w):
        losses = []
        for i in range(b):
            pos = delta(anchors[i], others[i])
            inter = sum(delta(anchors[i], others[k]) for k in range(b) if k != i and not infl[k])
            intra = 0.0
            if lam > 0:
                intra = sum(intra_term(anchors[i], anchors[k]) for k in range(b) if k != i and not infl[k])
                intra += sum(intra_term(anchors[i], q) for q in q_same)
            losses.append(-math.log(pos / (pos + inter + intra)))
        side_loss = sum(wi * li for wi, li in zip(w, losses)) / sum(w)
        return side_loss, losses

    if use_feat:
        cv, ct = conn(_rows(vf), queue["video_feat"]), conn(_rows(tf), queue["text_feat"])
    else:
        cv = ct = [0.0] * b
    lv, per_v = side(v, t, queue["video"], influential(cv), weights(cv))
    lt, per_t = side(t, v, queue["text"], influential(ct), weights(ct))
    return {"loss": (lv + lt) / 2, "loss_video": lv, "loss_text": lt, "per_sample_video": per_v,
            "per_sample_text": per_t, "connectivity_video": cv, "connectivity_text": ct,
            "influential_video": influential(cv), "influential_text": influential(ct)}


class QueueReference:
    """A FIFO of the last ``size`` (embedding, feature) rows per modality, as plain lists."""

    def __init__(self, size):
        self.size = size
        self.state = {"video": [], "text": [], "video_feat": [], "text_feat": []}

    def push(self, v, t, vf=None, tf=None):
        new = {"video": _rows(v), "text": _rows(t),
               "video_feat": _rows(vf) if vf is not None else [], "text_feat": _rows(tf) if tf is not None else []}
        for key, rows in new.items():
            self.state[key] = (self.state[key] + rows)[-self.size:] if self.size else []


def infonce_reference(v, t, tau):
    v, t = _rows(v), _rows(t)
    b = len(v)

    def side(a, o):
        return [-math.log(math.exp(_dot(a[i], o[i]) / tau) / sum(math.exp(_dot(a[i], o[k]) / tau) for k in range(b)))
                for i in range(b)]

    lv, lt = side(v, t), side(t, v)
    return {"loss": (sum(lv) / b + sum(lt) / b) / 2, "loss_video": sum(lv) / b, "loss_text": sum(lt) / b}


def nt_xent_reference(v, t, tau):
    z = _rows(v) + _rows(t)
    b = len(z) // 2
    losses = []
    for a in range(2 * b):
        pair = a + b if a < b else a - b
        denom = sum(math.exp(_dot(z[a], z[k]) / tau) for k in range(2 * b) if k != a)
        losses.append(-math.log(math.exp(_dot(z[a], z[pair]) / tau) / denom))
    lv, lt = sum(losses[:b]) / b, sum(losses[b:]) / b
    return {"loss": (lv + lt) / 2, "loss_video": lv, "loss_text": lt}


def max_margin_reference(v, t, margin, reduction):
    v, t = _rows(v), _rows(t)
    b = len(v)
    agg = sum if reduction == "sum" else max
    lv = [agg(max(0.0, margin - _dot(v[i], t[i]) + _dot(v[i], t[k])) for k in range(b) if k != i) for i in range(b)]
    lt = [agg(max(0.0, margin - _dot(t[i], v[i]) + _dot(t[i], v[k])) for k in range(b) if k != i) for i in range(b)]
    return {"loss": (sum(lv) / b + sum(lt) / b) / 2, "loss_video": sum(lv) / b, "loss_text": sum(lt) / b}


def mil_nce_reference(v, t, tau):
    v, t = _rows(v), _rows(t)
    b = len(v)
    losses = []
    for i in range(b):
        denom = sum(math.exp(_dot(v[i], t[k]) / tau) for k in range(b)) + \
            sum(math.exp(_dot(v[k], t[i]) / tau) for k in range(b))
        losses.append(-math.log(math.exp(_dot(v[i], t[i]) / tau) / denom))
    loss = sum(losses) / b
    return {"loss": loss, "loss_video": loss, "loss_text": loss}


def dcl_reference(v, t, tau, tau_plus):
    v, t = _rows(v), _rows(t)
    b = len(v)
    n = b - 1

    def side(a, o):
        out = []
        for i in range(b):
            pos = math.exp(_dot(a[i], o[i]) / tau)
            neg = sum(math.exp(_dot(a[i], o[k]) / tau) for k in range(b) if k != i)
            ng = max((neg - n * tau_plus * pos) / (1 - tau_plus), n * math.exp(-1 / tau))
            out.append(-math.log(pos / (pos + ng)))
        return out

    lv, lt = side(v, t), side(t, v)
    return {"loss": (sum(lv) / b + sum(lt) / b) / 2, "loss_video": sum(lv) / b, "loss_text": sum(lt) / b}
