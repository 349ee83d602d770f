# Sourced by run.sh: the repository root (through the steps_py link), its virtual
# environment, Kaldi binaries when KALDI_ROOT is set, and log(); see steps_py/env.sh.
KKD_ROOT=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/steps_py/.." && pwd)
. "$KKD_ROOT/steps_py/env.sh"
# The digits models are tiny: one CPU thread per process is as fast as two, the parallel
# stages use the other core, and no thread spins waiting on a busy machine.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
