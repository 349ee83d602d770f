# Option parsing for recipe scripts (Kaldi's parse_options.sh convention), sourced by
# run.sh after its block of defaults:
#   --foo-bar VALUE   sets $foo_bar, which run.sh must have declared with a default;
#   --foo-bar         alone sets a variable whose default is true/false to true;
#   --help            prints the script's header comment.
# An undeclared option is an error naming it.  Parsing stops at the first argument that is
# not an option when the script set takes_args=true (its positional arguments remain in
# "$@"); otherwise a stray argument is an error too.
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      sed -n '2,/^set -euo pipefail/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0"; exit 0 ;;
    --*)
      _opt=${1#--}; _opt=${_opt//-/_}
      if [[ ! "$_opt" =~ ^[a-z][a-z0-9_]*$ ]] || [ -z "${!_opt+x}" ]; then
        echo "$0: unknown option $1 (see $0 --help)" >&2; exit 1
      fi
      if { [ "${!_opt}" = true ] || [ "${!_opt}" = false ]; } && { [ $# -eq 1 ] || [[ "$2" == --* ]]; }; then
        printf -v "$_opt" '%s' true; shift
      else
        [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
        printf -v "$_opt" '%s' "$2"; shift 2
      fi ;;
    *)
      [ "${takes_args:-false}" = true ] && break
      echo "$0: unexpected argument '$1' (see $0 --help)" >&2; exit 1 ;;
  esac
done
unset _opt
