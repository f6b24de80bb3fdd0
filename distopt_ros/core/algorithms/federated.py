"""Federated learning on a star: FedAvg, FedOpt, heterogeneity, min-max and fairness.

docs/algorithms.md, "Federated averaging (FedAvg)", "FedOpt server optimizers", "Client heterogeneity" and
"Min-max and fairness-constrained federated servers".

The server is the coordinator (on robots: an elected leader node). Per round it broadcasts
the global model with the set of clients it sampled; sampled clients run ``E`` local epochs
and answer with their model, their data count and training loss; the rest stay silent.

* FedAvg: data-weighted average of the returned models.
* FedOpt: the uniform average delta drives a server optimizer, Adam, Adagrad or
  Yogi, with ``v_{-1} = tau^2`` and no bias correction (the paper's choice, kept here).
* Min-max / agnostic FL and the fairness-constrained form:
  primal-dual servers over clients that report ``(f_k(w), grad f_k(w))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from distopt_ros.core.agent import Agent, within_tolerance
from distopt_ros.core.messages import BROADCAST, COORDINATOR, Message
from distopt_ros.core.problems import LocalObjective, Problem
from distopt_ros.core.validation import as_finite_array, at_least, in_open_interval, positive

SERVER_OPTIMIZERS = ("fedavg", "fedadam", "fedadagrad", "fedyogi")


class FedClient(Agent):
    """A client: ``E`` local epochs of (minibatch) gradient descent from the global model.

    Full batch (``batch_size=None``, the paper's ``B = inf``) uses ``objective.gradient``; a
    minibatch needs an objective with ``num_samples`` and ``batch_gradient(x, rows)``.
    """

    algorithm = "fed"
    speaks_first = False

    def __init__(self, agent_id: int, objective: LocalObjective, num_clients: int, local_epochs: int,
                 local_step: float, num_samples: int = 1, batch_size: int | None = None, seed: int = 0,
                 max_iterations: int = 10_000, record: bool = False) -> None:
        self.num_clients = at_least(num_clients, "num_clients", 1)
        super().__init__(agent_id, objective.dim, {COORDINATOR: {"consensus": objective.dim, "aux": num_clients}},
                         max_iterations, record)
        self.objective = objective
        self.local_epochs = at_least(local_epochs, "local_epochs", 1)
        self.local_step = positive(local_step, "local_step")
        self.num_samples = at_least(num_samples, "num_samples", 1)
        if batch_size is not None:
            at_least(batch_size, "batch_size", 1)
            if not hasattr(objective, "batch_gradient"):
                raise ValueError("batch_size needs an objective with batch_gradient(x, rows); use None (full batch)")
        self.batch_size = batch_size
        self.rng = np.random.default_rng([seed, agent_id])
        self.w = np.zeros(self.dim)
        self.global_w = np.zeros(self.dim)
        self._reply: list[Message] = []

    def _train(self, w: np.ndarray) -> np.ndarray:
        for _ in range(self.local_epochs):
            if self.batch_size is None:
                w = w - self.local_step * self.objective.gradient(w)
            else:
                order = self.rng.permutation(self.num_samples)
                for start in range(0, self.num_samples, self.batch_size):
                    rows = order[start:start + self.batch_size]
                    w = w - self.local_step * self.objective.batch_gradient(w, rows)  # type: ignore[attr-defined]
        return w

    def _outgoing(self) -> list[Message]:
        out, self._reply = self._reply, []
        return out

    def _update(self, inbox: dict[int, Message]) -> None:
        msg = inbox[COORDINATOR]
        self._reply = []
        self.global_w = np.array(msg.consensus)
        if msg.aux[self.agent_id] > 0.5:  # sampled this round
            self.w = self._train(np.array(msg.consensus))
            loss = self.objective.value(self.w)
            # Built before the round counter advances, so the reply carries round k.
            self._reply = [self._message(COORDINATOR, "client_model", iteration=self.iteration,
                                         primal=self.w, aux=[float(self.num_samples), loss])]

    def estimate(self) -> np.ndarray:
        """The client's copy of the global model (the swarm's answer), not its local fit."""
        return self.global_w


class FedServer(Agent):
    """The server of FedAvg / FedOpt with client sampling."""

    algorithm = "fed"

    def __init__(self, num_clients: int, dim: int, rounds: int, optimizer: str = "fedavg", fraction: float = 1.0,
                 server_step: float = 1.0, beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3,
                 seed: int = 0, w0: Sequence[float] | None = None, record: bool = False,
                 tolerance: float = 0.0) -> None:
        k = at_least(num_clients, "num_clients", 1)
        super().__init__(COORDINATOR, dim, {i: {"primal": dim, "aux": 2} for i in range(k)}, rounds, record)
        if optimizer not in SERVER_OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(SERVER_OPTIMIZERS)}; got {optimizer!r}")
        self.optimizer = optimizer
        self.num_clients = k
        # The paper's C = 0 ("one client per round") is written here as any fraction below 1/K.
        self.fraction = in_open_interval(fraction, "fraction", 0.0, 1.0, closed_high=True)
        self.server_step = positive(server_step, "server_step")
        self.beta1 = in_open_interval(beta1, "beta1", -1e-12, 1.0)
        self.beta2 = in_open_interval(beta2, "beta2", -1e-12, 1.0)
        self.tau = positive(tau, "tau")
        self.rng = np.random.default_rng(seed)
        self.w = np.zeros(dim) if w0 is None else as_finite_array(w0, "w0", size=dim).reshape(-1)
        self.m = np.zeros(dim)
        self.v = np.full(dim, self.tau**2)
        self.losses: list[float] = []
        self.tolerance = float(tolerance)
        self._sample()

    def _sample(self) -> None:
        live = self.membership.live_peers if self.membership.changes else tuple(range(self.num_clients))
        count = min(max(math.ceil(self.fraction * len(live)), 1), len(live))
        self.selected = tuple(sorted(int(i) for i in self.rng.choice(live, size=count, replace=False)))

    def _forget(self, peer: int) -> bool:
        """The server samples among the live clients; a gone client drops out of this round's sample too."""
        self.selected = tuple(i for i in self.selected if i != peer)
        if not self.selected:
            self._sample()
        return True

    def start(self) -> list[Message]:
        if self.record and not self.trajectory:
            self.trajectory.append(self.w.copy())
        return self._send(self._outgoing())

    def awaited(self) -> tuple[int, ...]:
        return self.selected  # only this round's sampled (live) clients answer

    def _outgoing(self) -> list[Message]:
        mask = np.zeros(self.num_clients)
        mask[list(self.selected)] = 1.0
        return [self._message(BROADCAST, "global_model", consensus=self.w, aux=mask)]

    def _update(self, inbox: dict[int, Message]) -> None:
        ids = [i for i in self.selected if i in inbox]
        models = np.array([inbox[i].primal for i in ids])
        counts = np.array([inbox[i].aux[0] for i in ids])
        self.losses.append(float(np.average([inbox[i].aux[1] for i in ids], weights=counts)))
        w_old = self.w
        if self.optimizer == "fedavg":
            delta = counts @ (models - self.w) / counts.sum()
            self.w = self.w + self.server_step * delta
        else:
            delta = np.mean(models - self.w, axis=0)
            self.m = self.beta1 * self.m + (1 - self.beta1) * delta
            d2 = delta**2
            if self.optimizer == "fedadam":
                self.v = self.beta2 * self.v + (1 - self.beta2) * d2
            elif self.optimizer == "fedadagrad":
                self.v = self.v + d2
            else:  # fedyogi
                self.v = self.v - (1 - self.beta2) * d2 * np.sign(self.v - d2)
            self.w = self.w + self.server_step * self.m / (np.sqrt(self.v) + self.tau)
        self.dual_residual = float(np.linalg.norm(self.w - w_old))
        if self.tolerance > 0 and within_tolerance(self.dual_residual, self.tolerance, float(np.linalg.norm(self.w))):
            self.request_stop()  # the model stopped moving: the final broadcast tells every client
        self._sample()

    def estimate(self) -> np.ndarray:
        return self.w


def fed_swarm(problem: Problem, rounds: int, local_epochs: int, local_step: float, optimizer: str = "fedavg",
              fraction: float = 1.0, server_step: float = 1.0, num_samples: Sequence[int] | None = None,
              seed: int = 0, record: bool = False, **server_kw: float) -> dict[int, Agent]:
    """Clients for every objective of ``problem`` plus the server."""
    k = problem.num_agents
    counts = [1] * k if num_samples is None else list(num_samples)
    agents: dict[int, Agent] = {i: FedClient(i, f, k, local_epochs, local_step, counts[i], seed=seed,
                                             max_iterations=rounds, record=record)
                                for i, f in enumerate(problem.objectives)}
    agents[COORDINATOR] = FedServer(k, problem.dim, rounds, optimizer, fraction, server_step, seed=seed, record=record,
                                    **server_kw)
    return agents


def fedavg_fixed_point(curvatures: Sequence[float], centers: Sequence[float], weights: Sequence[float],
                       local_step: float, local_epochs: int) -> float:
    """The closed form of FedAvg's biased limit on scalar quadratics ``a_k/2 (w - c_k)^2``."""
    a, c, p = (np.asarray(v, dtype=float) for v in (curvatures, centers, weights))
    q = (1 - local_step * a) ** local_epochs
    return float(np.sum(p * (1 - q) * c) / np.sum(p * (1 - q)))


def heterogeneity(problem: Problem, weights: Sequence[float]) -> float:
    """Client heterogeneity: ``B = sum_k p_k ||grad f_k(w*)||^2`` at ``w* = argmin sum_k p_k f_k``."""
    p = as_finite_array(weights, "weights", size=problem.num_agents)
    if np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError("weights must be non-negative and sum to 1")
    from distopt_ros.core.problems import QuadraticObjective

    if all(isinstance(f, QuadraticObjective) for f in problem.objectives):
        lhs = sum(pk * f.precision for pk, f in zip(p, problem.objectives, strict=True))
        rhs = sum(pk * f.precision @ f.mean for pk, f in zip(p, problem.objectives, strict=True))
        w_star = np.linalg.solve(lhs, rhs)
    else:
        from scipy.optimize import minimize

        objs = problem.objectives  # BFGS with the objectives' own gradients: finite differences cap it near 1e-8
        w_star = minimize(lambda w: sum(pk * f.value(w) for pk, f in zip(p, objs, strict=True)),
                          np.zeros(problem.dim), method="BFGS", options={"gtol": 1e-12},
                          jac=lambda w: sum(pk * f.gradient(w) for pk, f in zip(p, objs, strict=True))).x
    return float(sum(pk * float(np.sum(f.gradient(w_star) ** 2)) for pk, f in zip(p, problem.objectives, strict=True)))


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex (sort-based)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u)
    k = np.arange(1, v.size + 1)
    rho = int(np.nonzero(u * k > css - 1)[0][-1])
    theta = (css[rho] - 1) / (rho + 1)
    return np.maximum(v - theta, 0.0)


class LossClient(Agent):
    """Reports ``(f_k(w), grad f_k(w))`` at the server's model (min-max and fair servers)."""

    algorithm = "fedpd"
    speaks_first = False

    def __init__(self, agent_id: int, objective: LocalObjective, max_iterations: int) -> None:
        super().__init__(agent_id, objective.dim, {COORDINATOR: {"consensus": objective.dim}}, max_iterations)
        self.objective = objective
        self.w = np.zeros(self.dim)

    def _outgoing(self) -> list[Message]:
        return [self._message(COORDINATOR, "loss", iteration=self.iteration - 1, primal=self.objective.gradient(self.w),
                              aux=[self.objective.value(self.w)])]

    def _update(self, inbox: dict[int, Message]) -> None:
        self.w = np.array(inbox[COORDINATOR].consensus)

    def estimate(self) -> np.ndarray:
        return self.w


class PrimalDualServer(Agent):
    """Min-max (``mode="minmax"``) or fairness-constrained (``mode="fair"``) server."""

    algorithm = "fedpd"

    def __init__(self, num_clients: int, dim: int, rounds: int, mode: str, step: float, dual_step: float,
                 weights: Sequence[float] | None = None, epsilon: float = 0.0, record: bool = False) -> None:
        k = at_least(num_clients, "num_clients", 1)
        super().__init__(COORDINATOR, dim, {i: {"primal": dim, "aux": 1} for i in range(k)}, rounds, record)
        if mode not in ("minmax", "fair"):
            raise ValueError(f"mode must be 'minmax' or 'fair', got {mode!r}")
        self.mode = mode
        self.step_size = positive(step, "step")
        self.dual_step = positive(dual_step, "dual_step")
        self.p = np.full(k, 1.0 / k) if weights is None else as_finite_array(weights, "weights", size=k)
        self.epsilon = float(epsilon)
        self.w = np.zeros(dim)
        self.lam = np.full(k, 1.0 / k) if mode == "minmax" else np.zeros(k)

    def start(self) -> list[Message]:
        return self._send(self._outgoing())

    def _outgoing(self) -> list[Message]:
        return [self._message(BROADCAST, "model", consensus=self.w)]

    def _update(self, inbox: dict[int, Message]) -> None:
        ids = sorted(inbox)
        grads = np.array([inbox[i].primal for i in ids])
        losses = np.array([inbox[i].aux[0] for i in ids])
        if self.mode == "minmax":
            self.w = self.w - self.step_size * (self.lam @ grads)
            self.lam = project_simplex(self.lam + self.dual_step * losses)
        else:
            self.w = self.w - self.step_size * ((self.p + self.lam) @ grads)
            self.lam = np.maximum(0.0, self.lam + self.dual_step * (losses - self.epsilon))

    def estimate(self) -> np.ndarray:
        return self.w


def primal_dual_swarm(problem: Problem, rounds: int, mode: str, step: float, dual_step: float,
                      weights: Sequence[float] | None = None, epsilon: float = 0.0) -> dict[int, Agent]:
    """Loss-reporting clients plus the min-max or fairness-constrained server."""
    agents: dict[int, Agent] = {i: LossClient(i, f, rounds) for i, f in enumerate(problem.objectives)}
    agents[COORDINATOR] = PrimalDualServer(problem.num_agents, problem.dim, rounds, mode, step, dual_step, weights,
                                           epsilon)
    return agents
