"""The worlds. `acjax.envs.registry.make(name)` builds one by name; the names are:"""

WORLDS = """\
<size> is tiny, small, medium or large; <N> the number of robots (examples: rware-tiny-4ag,
jumanji-rware-small-8ag-hard).
- `jumanji-rware-<size>-<N>ag[-easy|-hard]`: Jumanji's RobotWarehouse (envs/warehouse_jumanji.py)
- `rware-<size>-<N>ag[-easy|-hard][-c<C>][-v1][-mean]`: the JAX port faithful to the original
  rware (envs/warehouse_rware.py); `-c<C>` column height C (default 8), `-v1` rware 1.0.1's
  layout rule, `-mean` every agent gets the team reward / N. The ACPO authors' warehouse:
  `rware-<size>-<N>ag[-easy|-hard]-c1-v1-mean` (tiny 4x10 with 8 shelves, small 6x10 with 16)
- `matrix-table1`, `matrix-climbing`, `matrix-penalty`: discrete matrix games (envs/matrix.py)
- `matrix-continuous`: the continuous two-agent climbing-like game, actions in [-1, 1]
  (envs/matrix.py, ContinuousMatrixGame)
- `external-rware-<size>-<N>ag[-easy|-hard][-c<C>][-v1][-mean]`: the original `rware` package
  stepped on the host through the callback adapter (envs/external/)
- `pettingzoo:<module>`: a PettingZoo parallel environment whose agents share their spaces,
  through the adapter (for instance `pettingzoo:mpe2.simple_spread_v3`); the config's
  `env_kwargs` are its constructor's keyword arguments
- `smacv2-<scenario>`: SMACv2 (StarCraft II) through the adapter, for instance
  `smacv2-protoss_5_vs_5`; needs SMACv2 and StarCraft II installed (envs/external/)
- the config's `external` section says how the host runs the instances of these worlds
  (in this process or in worker processes) and injects faults for drills
- `mamujoco-<robot>-<partition>`: multi-agent MuJoCo on brax, for instance
  `mamujoco-halfcheetah-2x3` or `mamujoco-humanoid-9|8` (envs/mamujoco.py); the config's
  `mamujoco` section sets obsk, the brax backend and the time limit
- `jaxmarl:<env_id>`: a JaxMARL world whose agents share their spaces, pure JAX, for instance
  `jaxmarl:MPE_simple_spread_v3`; the config's `env_kwargs` are JaxMARL's keyword arguments
  (envs/jaxmarl_world.py)
- `smax-<scenario>`: SMAX against its heuristic enemy, with death masking and the win rate, for
  instance `smax-smacv2_5_units`, `smax-3m`, `smax-2s3z`, `smax-5m_vs_6m`
"""
