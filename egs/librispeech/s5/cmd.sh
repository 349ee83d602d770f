# Job runners, Kaldi style: every parallel stage is run as
#   $cmd JOB=1:$nj <log-dir>/x.JOB.log <command with JOB>
# steps_py/run.pl runs the jobs on this machine (at most nproc at a time).
# On a grid engine or Slurm cluster use Kaldi's utils/queue.pl or utils/slurm.pl with your
# conf/queue.conf (Kaldi's LibriSpeech recipe asks for about these):
#   export train_cmd="queue.pl --mem 2G"
#   export decode_cmd="queue.pl --mem 4G"
#   export cuda_cmd="queue.pl --gpu 1"      # AM/teacher training: see docs/scale_out.md
export train_cmd="steps_py/run.pl"
export decode_cmd="steps_py/run.pl"
export cuda_cmd="steps_py/run.pl"
