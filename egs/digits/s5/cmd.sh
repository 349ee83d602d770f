# Job runners, Kaldi style: every parallel stage is run as
#   $cmd JOB=1:$nj <log-dir>/x.JOB.log <command with JOB>
# Empty (the default here): the stage script runs its jobs in a process pool of its own
# (at most nproc at a time, no Python start-up per job: what this tiny corpus wants).
# steps_py/run.pl runs each job as its own process on this machine, as Kaldi's run.pl;
# on a grid engine or Slurm cluster, point these at Kaldi's utils/queue.pl or
# utils/slurm.pl (with your conf/queue.conf), e.g.
#   export train_cmd="queue.pl --mem 2G"
#   export cuda_cmd="queue.pl --gpu 1"
export train_cmd=""
export decode_cmd=""
export cuda_cmd=""
