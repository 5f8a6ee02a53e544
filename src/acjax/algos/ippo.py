"""IPPO (de Witt et al. 2020): MAPPO with a decentralized critic V(o_i, id=i).

The only difference from `mappo` is what the critic sees.
"""

from __future__ import annotations

from acjax.algos.mappo import act, actor_inputs, advantages, bootstrap_inputs, critic_inputs

def critic_view(obs, global_state):
    """The agent's own observation: [..., N, O]."""
    return obs


__all__ = ["act", "actor_inputs", "advantages", "bootstrap_inputs", "critic_inputs", "critic_view"]
