"""IPPO (de Witt et al. 2020): MAPPO with a decentralized critic V(o_i, id=i).

The only difference from MAPPO is what the critic sees.
"""

from __future__ import annotations

from acjax.algos.mappo import MAPPO


class IPPO(MAPPO):
    def critic_view(self, obs, global_state):
        """The agent's own observation: [..., N, O]."""
        return obs
