"""Linear regression by full-batch gradient descent on standardized features.

Nesterov's momentum, with the step and momentum set from the curvature of the problem,
reaches the least-squares optimum in hundreds of steps even on correlated features, where
plain gradient descent needs tens of thousands.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class TrainingParameters:
    # None: 1 / (largest curvature), the largest step that always descends.
    learning_rate: float | None = None
    max_iterations: int = 20_000
    # Stop when the gradient's norm falls below this (in standardized units).
    tolerance: float = 1e-9
    seed: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class FittedLinearModel:
    """Weights apply to standardized features: (x - mean) / scale."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    iterations: int
    converged: bool

    def predict(self, X: np.ndarray) -> np.ndarray:
        predictions: np.ndarray = ((X - self.mean) / self.scale) @ self.weights + self.bias
        return predictions


def fit(
    X: np.ndarray, y: np.ndarray, params: TrainingParameters | None = None
) -> FittedLinearModel:
    """Minimize the mean squared error; the same data and seed give the same weights."""
    params = params or TrainingParameters()
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(f"need X of shape (n, k) and y of shape (n,), got {X.shape} and {y.shape}")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    # A constant column carries no signal; a unit scale keeps it from dividing by zero.
    scale = np.where(scale > 0, scale, 1.0)
    Z = (X - mean) / scale
    rows = X.shape[0]

    step, momentum = _step_and_momentum(Z, params.learning_rate)
    # A nearly constant target has a tiny spread; rounding errors scale with its size.
    target_scale = max(float(y.std()), 1e-6 * float(np.abs(y).max()), 1e-12)

    rng = np.random.default_rng(params.seed)
    weights = np.asarray(rng.normal(0.0, 0.01, size=X.shape[1]), dtype=np.float64)
    bias = float(y.mean())
    previous_weights, previous_bias = weights, bias
    converged = False
    iteration = 0
    for iteration in range(1, params.max_iterations + 1):  # noqa: B007 (read after the loop)
        # Nesterov: take the gradient at the point the momentum is carrying us to.
        look_weights = weights + momentum * (weights - previous_weights)
        look_bias = bias + momentum * (bias - previous_bias)
        residuals = Z @ look_weights + look_bias - y
        gradient_weights = (Z.T @ residuals) / rows
        gradient_bias = float(residuals.mean())
        previous_weights, previous_bias = weights, bias
        weights = look_weights - step * gradient_weights
        bias = look_bias - step * gradient_bias
        # The gradient is measured relative to the target's spread, so the tolerance
        # means the same for targets in any unit.
        norm = np.sqrt(gradient_weights @ gradient_weights + gradient_bias**2)
        if norm <= params.tolerance * target_scale:
            converged = True
            break
    return FittedLinearModel(
        weights=weights,
        bias=bias,
        mean=mean,
        scale=scale,
        iterations=iteration,
        converged=converged,
    )


def _step_and_momentum(Z: np.ndarray, learning_rate: float | None) -> tuple[float, float]:
    """Step 1/L and momentum (sqrt(k)-1)/(sqrt(k)+1) for condition number k = L/mu."""
    # Curvatures of the mean squared error: the eigenvalues of Z'Z/n, and 1 for the bias
    # (standardized columns are centred, so the bias is decoupled from the weights).
    eigenvalues = np.linalg.eigvalsh(Z.T @ Z / Z.shape[0])
    largest = max(float(eigenvalues.max()), 1.0)
    smallest = max(min(float(eigenvalues.min()), 1.0), 1e-12)
    step = learning_rate if learning_rate is not None else 1.0 / largest
    root = np.sqrt(largest / smallest)
    return step, float((root - 1.0) / (root + 1.0))
