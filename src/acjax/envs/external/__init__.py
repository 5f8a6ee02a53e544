"""External (plain Python) environments inside the compiled program: a host-callback adapter.

A `HostPool` holds Python environment instances on the host; an `ExternalWorld` presents them as
a world of the common interface (`acjax.envs.core`), so the fused trainer runs unchanged. The
JAX-side state of one environment is only a handle (its instance id and a step tick); `reset`
and `step` cross to the host through `jax.pure_callback(..., vmap_method="expand_dims")`, so a
vmapped batch of environments (and a vmapped seed axis above it) makes ONE host call per time
step with the whole batch, not one per element. Each step's callback consumes the previous
step's tick, so the calls are ordered by data dependence and none can be merged or dropped.

The host auto-resets: when an instance's episode ends, it keeps the true final observation
and state in `final_obs` / `final_global_state` and resets the instance in the same call. An
episode ends by the instance's own termination or truncation, or by the world's time limit,
which is reported as truncation. The world says `self_resetting = True`, and `AutoReset` then
passes its steps through.

An instance implements `Instance`: `reset(seed) -> (obs [N, O], state [S], mask [N, A])` and
`step(actions) -> (obs, state, mask, reward, terminated, truncated[, info])` with numpy values;
the backends adapt real environments to it (`RwareInstance`: the original `rware` package;
`PettingZooInstance`: a PettingZoo parallel environment; `SmacStyleInstance`: any environment
with SMACv2's API, SMACv2 itself included).

Host parallelism and faults (`PoolOptions`, the config's `external` section): the instances
step in this process or in worker processes, in parallel. An instance whose step raises, or
whose worker process dies, is replaced by a fresh one: its episode ends as truncated at its last
known observation, the next episode starts in the same call, and `TimeStep.restarts` counts it
(the `restarts` metric). Nothing else is lost: the other instances and everything collected go on.

Instances live in the host processes of the run: a resumed run starts new episodes (their
state is not in the checkpoint; `HostPool._ensure` makes the instances its restored handles name,
so the first step after a resume continues from a fresh episode, not from the checkpointed
observation). With several devices, each device's shard calls the host once per step, from its
own thread; the pool serves them one at a time.

The package, one module a part: `pool` (`HostPool`, the `Instance` protocol, `PoolOptions`),
`workers` (instances in this process or in worker processes), `world` (`ExternalWorld`), and
the backends `rware`, `pettingzoo` and `smac`.
"""

from acjax.envs.external.pettingzoo import PettingZooInstance, make_pettingzoo
from acjax.envs.external.pool import HostPool, Instance, PoolOptions
from acjax.envs.external.rware import RwareInstance, make_rware
from acjax.envs.external.smac import (
    SMACV2_INSTALL,
    SMACV2_SCENARIOS,
    SMACV2_UNITS,
    SmacStyleInstance,
    SMACv2Env,
    make_smac_style,
    make_smacv2,
    smacv2_kwargs,
    smacv2_missing,
)
from acjax.envs.external.workers import InjectedFault
from acjax.envs.external.world import ExternalState, ExternalWorld

__all__ = [
    "ExternalState",
    "ExternalWorld",
    "HostPool",
    "InjectedFault",
    "Instance",
    "PettingZooInstance",
    "PoolOptions",
    "RwareInstance",
    "SMACV2_INSTALL",
    "SMACV2_SCENARIOS",
    "SMACV2_UNITS",
    "SMACv2Env",
    "SmacStyleInstance",
    "make_pettingzoo",
    "make_rware",
    "make_smac_style",
    "make_smacv2",
    "smacv2_kwargs",
    "smacv2_missing",
]
