"""acjax: Agent-Chained Policy Optimization and its baselines as one vectorized JAX trainer."""

__version__ = "0.1.0"
