"""The supervised law (Eq. 1) and the distillation law (Eq. 8), each defined once, in log space.

Every function works in the namespace of its arguments (NumPy, JAX or PyTensor). Coefficients with
leading sample dimensions broadcast against the inputs: the result has shape ``sample_shape + input_shape``.
Log-space forms keep inputs from 1e3 to 1e20 and teacher losses in (0, 20] free of overflow: the
broken power law of Eq. 8 has exponents near 11 and 47, so it is only ever evaluated as a softplus.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_distill.laws._namespace import namespace
from bayes_distill.laws.params import PAPER, LawParams
from bayes_distill.laws.validation import check_positive_finite


def _expand(xp: Any, coefficient: Any, input_ndim: int) -> Any:
    """Append ``input_ndim`` unit axes so that sample dimensions lead the input dimensions."""
    coefficient = xp.asarray(coefficient)
    ndim = getattr(coefficient, "ndim", 0)
    if ndim == 0 or input_ndim == 0:
        return coefficient
    return coefficient[(...,) + (None,) * input_ndim]


def _input_ndim(*inputs: Any) -> int:
    return max(getattr(x, "ndim", np.ndim(x)) for x in inputs)


def log_supervised_loss(N: Any, D: Any, params: LawParams = PAPER) -> Any:
    """log L(N, D) of Eq. 1: log L = logaddexp(log E, gamma * logaddexp(log A - alpha log N, log B - beta log D)).

    N: non-embedding parameters; D: training tokens; result: log of nats per token.
    """
    xp = namespace(N, D, *params)
    k = _input_ndim(N, D)
    E = _expand(xp, params.E, k)
    N, D = xp.asarray(N), xp.asarray(D)
    return xp.logaddexp(xp.log(E), _log_supervised_reducible(xp, N, D, params, k))


def _log_supervised_reducible(xp: Any, N: Any, D: Any, params: LawParams, k: int) -> Any:
    """log (A / N^alpha + B / D^beta)^gamma: the part of Eq. 1 above the irreducible loss E."""
    A, B, alpha, beta, gamma = (_expand(xp, getattr(params, c), k) for c in ("A", "B", "alpha", "beta", "gamma"))
    return gamma * xp.logaddexp(xp.log(A) - alpha * xp.log(N), xp.log(B) - beta * xp.log(D))


def log_distilled_loss(N_S: Any, D_S: Any, L_T: Any, params: LawParams = PAPER) -> Any:
    """log L_S(N_S, D_S, L_T) of Eq. 8.

    N_S: student non-embedding parameters; D_S: distillation tokens; L_T: teacher cross-entropy (nats per token).
    The supervised coefficients of ``params`` give L~_S = L(N_S, D_S), so their uncertainty reaches L_S.
    """
    xp = namespace(N_S, D_S, L_T, *params)
    return xp.logaddexp(xp.log(L_T), _log_distillation_excess(xp, N_S, D_S, L_T, params))


def _log_distillation_excess(xp: Any, N_S: Any, D_S: Any, L_T: Any, params: LawParams) -> Any:
    """log (L_S - L_T): the part of Eq. 8 above the teacher's loss."""
    k = _input_ndim(N_S, D_S, L_T)
    N_S, D_S, L_T = xp.asarray(N_S), xp.asarray(D_S), xp.asarray(L_T)
    names = ("A_prime", "B_prime", "alpha_prime", "beta_prime", "gamma_prime", "c0", "c1", "f1", "d1")
    A_p, B_p, alpha_p, beta_p, gamma_p, c0, c1, f1, d1 = (_expand(xp, getattr(params, c), k) for c in names)
    log_teacher = xp.log(L_T)
    log_student_supervised = log_supervised_loss(N_S, D_S, params)
    # Broken power law in L_T / (L~_S d1): log(1 + x^(1/f1))^(-c1 f1) = -c1 f1 softplus(log x / f1).
    log_transition = -c1 * f1 * xp.softplus((log_teacher - log_student_supervised - xp.log(d1)) / f1)
    log_reducible = gamma_p * xp.logaddexp(xp.log(A_p) - alpha_p * xp.log(N_S), xp.log(B_p) - beta_p * xp.log(D_S))
    return -c0 * log_teacher + log_transition + log_reducible


def supervised_loss(N: Any, D: Any, params: LawParams = PAPER) -> Any:
    """L(N, D) of Eq. 1 in nats per token, for N non-embedding parameters trained on D tokens."""
    check_positive_finite("N", N)
    check_positive_finite("D", D)
    xp, k = namespace(N, D, *params), _input_ndim(N, D)
    # E + excess rather than exp(log L): exact at the floor, so L >= E holds to the last bit.
    return _expand(xp, params.E, k) + xp.exp(_log_supervised_reducible(xp, xp.asarray(N), xp.asarray(D), params, k))


def distilled_loss(N_S: Any, D_S: Any, L_T: Any, params: LawParams = PAPER) -> Any:
    """L_S(N_S, D_S, L_T) of Eq. 8 in nats per token: a student of N_S parameters distilled on D_S tokens
    from a teacher of cross-entropy L_T nats per token."""
    check_positive_finite("N_S", N_S)
    check_positive_finite("D_S", D_S)
    check_positive_finite("L_T", L_T)
    xp = namespace(N_S, D_S, L_T, *params)
    # L_T + excess rather than exp(log L_S): L_S >= L_T holds to the last bit.
    return L_T + xp.exp(_log_distillation_excess(xp, N_S, D_S, L_T, params))
