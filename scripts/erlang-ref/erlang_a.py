"""Independent reference implementation of the Erlang A (M/M/N+M) queue.

Model: Poisson arrivals (rate lam), exponential service (rate mu = 1/AHT),
N agents, exponential patience (rate theta = 1/mean patience), FCFS, infinite
waiting room.  All outputs are steady-state, as seen by arrivals (PASTA).

Two independent methods:
  * closed_form(): incomplete-gamma formulas of Garnett, Mandelbaum & Reiman,
    "Designing a Call Center with Impatient Customers" (MSOM, 2002) and
    Mandelbaum & Zeltyn, "Service Engineering in Action: the Palm/Erlang-A
    Queue, with Applications to Call Centers" (2007), evaluated with mpmath.
  * numerical(): truncated birth-death chain for the stationary law, plus a
    small absorbing CTMC ("number of callers ahead of me") solved with
    scipy.linalg.expm for the service level.

Run `python3 erlang_a.py` to regenerate erlang_a_reference.json.
"""
import json
import math
import sys

import mpmath as mp
import numpy as np
from scipy.linalg import expm

mp.mp.dps = 60


# ---------------------------------------------------------------------------
# Method 1: closed forms (mpmath)
# ---------------------------------------------------------------------------
def _erlang_b(n, a):
    """Erlang B blocking probability E_{1,n}(a) by the stable recursion
    B_k = a B_{k-1} / (k + a B_{k-1}); used as the building block of the
    Erlang A formulas in Garnett-Mandelbaum-Reiman (2002)."""
    b = mp.mpf(1)
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def _A(x, y):
    """A(x, y) = x e^y y^{-x} gamma(x, y) = sum_{j>=0} y^j / prod_{k=1..j}(x+k)
    (Garnett-Mandelbaum-Reiman 2002; Mandelbaum-Zeltyn 2007), with
    gamma the lower incomplete gamma function, x = N mu/theta, y = lam/theta."""
    g = mp.gammainc(x, 0, y)  # lower incomplete gamma
    return mp.exp(mp.log(x) + y - x * mp.log(y) + mp.log(g))


def closed_form(lam, mu, theta, n, T):
    """Erlang A performance measures from the closed forms of
    Garnett, Mandelbaum & Reiman (2002) / Mandelbaum & Zeltyn (2007):
      P(W>0)        = A E / (1 + (A-1) E),        E = Erlang-B(N, lam/mu)
      P(Ab | W>0)   = 1/(rho A) + 1 - 1/rho,      rho = lam/(N mu)
      E[W]          = P(Ab)/theta  (= E[Lq]/lam, Little + theta E[Lq] = lam P(Ab))
      P(W<=T, Sr | W>0)
                    = x e^y y^{-(x+1)} [gamma(x+1, y) - gamma(x+1, y e^{-theta T})] / A
    The last line follows from the offered-wait density on {W>0},
    f_V(u) proportional to N mu e^{-N mu u} exp(y(1 - e^{-theta u})), as in
    Mandelbaum & Zeltyn (2007), weighted by e^{-theta u} (patience survives)."""
    lam, mu, theta, T = (mp.mpf(v) for v in (lam, mu, theta, T))
    x = n * mu / theta
    y = lam / theta
    rho = lam / (n * mu)
    E = _erlang_b(n, lam / mu)
    A = _A(x, y)
    p_wait = A * E / (1 + (A - 1) * E)
    p_ab_given_wait = 1 / (rho * A) + 1 - 1 / rho
    p_ab = p_wait * p_ab_given_wait
    ew = p_ab / theta
    lo = mp.gammainc(x + 1, 0, y * mp.exp(-theta * T))
    hi = mp.gammainc(x + 1, 0, y)
    sl_given_wait = mp.exp(mp.log(x) + y - (x + 1) * mp.log(y)) * (hi - lo) / A
    sl = (1 - p_wait) + p_wait * sl_given_wait
    occ = lam * (1 - p_ab) / (n * mu)
    return dict(p_wait=p_wait, p_abandon=p_ab, asa=ew, service_level=sl,
                occupancy=occ)


# ---------------------------------------------------------------------------
# Method 2: truncated birth-death chain + absorbing CTMC (numpy/scipy)
# ---------------------------------------------------------------------------
def stationary(lam, mu, theta, n, tail_tol=1e-14):
    """Stationary law of the M/M/N+M birth-death chain (birth lam, death
    min(k,N) mu + (k-N)^+ theta), cf. Garnett-Mandelbaum-Reiman (2002), computed
    in log space and truncated at the first state beyond the mode where a
    geometric bound on the remaining tail mass is below tail_tol."""
    logw = [0.0]
    k = 0
    while True:
        k += 1
        death = min(k, n) * mu + max(k - n, 0) * theta
        logw.append(logw[-1] + math.log(lam) - math.log(death))
        nxt = min(k + 1, n) * mu + max(k + 1 - n, 0) * theta
        r = lam / nxt  # ratio of next term to this one (non-increasing for k>=N)
        if k >= n and r < 1:
            m = max(logw)
            term = math.exp(logw[-1] - m)
            total = sum(math.exp(v - m) for v in logw)
            if term * r / (1 - r) / total < tail_tol * 1e-2:
                break
    lw = np.array(logw)
    p = np.exp(lw - lw.max())
    return p / p.sum()


def served_within(mu, theta, n, T, kmax):
    """P(served within T | k callers waiting ahead at arrival), k = 0..kmax:
    absorbing CTMC on 'number ahead of me' (k -> k-1 at N mu + k theta; from 0
    to 'served' at N mu; to 'abandoned' at theta from every transient state),
    the M/M/N+M virtual-wait structure of Mandelbaum & Zeltyn (2007); solved
    with a matrix exponential."""
    m = kmax + 1
    S, AB = m, m + 1
    Q = np.zeros((m + 2, m + 2))
    for k in range(m):
        down = n * mu + k * theta
        if k == 0:
            Q[0, S] = n * mu
        else:
            Q[k, k - 1] = down
        Q[k, AB] = theta
        Q[k, k] = -(down + theta)
    P = expm(Q * T)
    return P[:m, S]


def numerical(lam, mu, theta, n, T):
    """Erlang A measures from the truncated stationary distribution (PASTA) and
    the absorbing-CTMC service level; cf. Garnett-Mandelbaum-Reiman (2002)."""
    p = stationary(lam, mu, theta, n)
    idx = np.arange(len(p))
    q = np.maximum(idx - n, 0)
    p_wait = p[n:].sum()
    elq = (q * p).sum()
    p_ab = theta * elq / lam
    asa = elq / lam
    sw = served_within(mu, theta, n, T, len(p) - 1 - n)
    sl = p[:n].sum() + (p[n:] * sw).sum()
    occ = lam * (1 - p_ab) / (n * mu)
    return dict(p_wait=p_wait, p_abandon=p_ab, asa=asa, service_level=sl,
                occupancy=occ)


# ---------------------------------------------------------------------------
CASES = [
    (6000, 300, 300, 20, [400, 450, 480, 490, 495, 500, 505, 510, 520, 530, 550]),
    (100, 180, 60, 20, list(range(1, 13))),
    (360, 240, 120, 30, list(range(15, 37))),
    (2000, 120, 30, 10, list(range(50, 91, 5))),
    (50, 600, 900, 60, list(range(3, 16))),
]
KEYS = ["p_wait", "p_abandon", "asa", "service_level", "occupancy"]


def main(out="erlang_a_reference.json"):
    """Compute both methods for all cases, check agreement, write the JSON
    (values taken from the closed forms of Mandelbaum & Zeltyn 2007)."""
    rows, maxdiff = [], 0.0
    for cph, aht, pat, T, agents in CASES:
        lam, mu, theta = cph / 3600.0, 1.0 / aht, 1.0 / pat
        for n in agents:
            c = {k: float(v) for k, v in closed_form(lam, mu, theta, n, T).items()}
            d = numerical(lam, mu, theta, n, T)
            for k in KEYS:
                # absolute diff; asa in seconds compared relative to 1 s scale
                diff = abs(c[k] - d[k])
                maxdiff = max(maxdiff, diff)
                if diff > 1e-6:
                    sys.exit(f"DISAGREE {cph} {aht} {pat} {T} N={n} {k}: {c[k]} vs {d[k]}")
            rows.append(dict(calls_per_hour=cph, aht_secs=aht, patience_secs=pat,
                             target_secs=T, agents=n, p_wait=c["p_wait"],
                             p_abandon=c["p_abandon"], asa_secs=c["asa"],
                             service_level=c["service_level"],
                             occupancy=c["occupancy"]))
    with open(out, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"{len(rows)} rows written to {out}; max |closed - numerical| = {maxdiff:.3e}")
    return maxdiff


if __name__ == "__main__":
    main()
