#!/usr/bin/env python3
"""Make the decoding graph HCLG.fst (Kaldi's utils/mkgraph.sh).

Usage: steps_py/mkgraph.py [options] <lang-test-dir> <model-dir> <graph-dir>
e.g.:  steps_py/mkgraph.py data/lang_test exp/tri1 exp/tri1/graph
<model-dir> must hold final.mdl and tree; <lang-test-dir> must hold G.fst.
"""

import argparse
import sys
from pathlib import Path

from kaldi_kd.errors import require_files, run_main
from kaldi_kd.gmm.graph import GraphConfig, load_model_dir, make_graph_dir
from kaldi_kd.gmm.stage import LEVEL_NAME_FORMAT, setup_logging


def main() -> int:
    d = GraphConfig()
    p = argparse.ArgumentParser(
        usage='%(prog)s [options] <lang-test-dir> <model-dir> <graph-dir>\n       e.g.:  steps_py/mkgraph.py data/lang_test exp/tri1 exp/tri1/graph',
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # options (defaults in one block: GraphConfig)
    p.add_argument("--self-loop-scale", type=float, default=d.self_loop_scale)
    p.add_argument("--transition-scale", type=float, default=d.transition_scale)
    p.add_argument("--max-states", type=int, default=d.max_states,
                   help="stop determinization beyond this many states (-1: no limit)")
    p.add_argument("lang_test_dir")
    p.add_argument("model_dir")
    p.add_argument("graph_dir")
    args = p.parse_args()

    graph = Path(args.graph_dir)
    setup_logging(graph / "log" / "mkgraph.log", "mkgraph", LEVEL_NAME_FORMAT)
    require_files([Path(args.lang_test_dir) / "G.fst", Path(args.lang_test_dir) / "L_disambig.fst",
                   Path(args.model_dir) / "final.mdl", Path(args.model_dir) / "tree"], "is the previous stage done?")
    cfg = GraphConfig(self_loop_scale=args.self_loop_scale, transition_scale=args.transition_scale,
                      max_states=args.max_states)
    trans_model, ctx_dep = load_model_dir(args.model_dir)
    make_graph_dir(args.lang_test_dir, trans_model, ctx_dep, graph, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
