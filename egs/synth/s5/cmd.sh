# Job runners, Kaldi style: every parallel stage is run as
#   $cmd JOB=1:$nj <log-dir>/x.JOB.log <command with JOB>
# steps_py/run.pl runs the jobs on this machine (at most nproc at a time).
# On a grid engine or Slurm cluster, point these at Kaldi's utils/queue.pl or
# utils/slurm.pl (with your conf/queue.conf), e.g.
#   export train_cmd="queue.pl --mem 2G"
#   export cuda_cmd="queue.pl --gpu 1"
export train_cmd="steps_py/run.pl"
export decode_cmd="steps_py/run.pl"
export cuda_cmd="steps_py/run.pl"
