"""Memory planning for scratchpad accelerators and arenas: COSMA (docs/cosma.md).

One module per concern:
  graph      the operator DAG with tensor sizes, M_R, lifetimes, peaks
  orders     the program order and a min-peak order (beam search)
  plan       a plan: order and per-step events (spill, drop, retrieve, create, store), JSON
  checker    the independent checker that replays a plan and recomputes its traffic
  packing    placing residency intervals at offsets (greedy by size, exact by ILP)
  baselines  TFLite's arena planner with Belady / greedy replacement
  solver     running PuLP models on HiGHS (warm starts, honest status) or CBC
  ilp        the full COSMA ILP (schedule, residency, addresses) on a graph or a window
  residency  phase 1 of the decomposition: keep/release per gap under a fixed order
  decompose  phase 1 + phase 2 with repair under a fixed order
  windows    re-solving windows of a large plan with the full ILP and splicing them back
  cosma      the strategy end to end: budgets (M_R, M_H, M_P), baselines, plan_graph
  arena      a drop-in arena planner for backends that place their own buffers
  ir         writing a plan into the IR (mem dialect)

    from tensorc.planning.graph import Graph
    from tensorc.planning.cosma import plan_graph
"""
