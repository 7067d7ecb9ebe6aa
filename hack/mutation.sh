#!/usr/bin/env bash
# Mutation testing of the pure modules with mutmut (config: [tool.mutmut] in pyproject.toml).
# Each module is mutated alone and only its own unit tests run against its mutants, so a
# module's score says what its tests pin down. Not part of hack/test.sh: it takes minutes.
#
#   hack/mutation.sh                 every module below
#   hack/mutation.sh groups naming   some of them
#
# mutmut names modules after their path under ./ or src/ only, and the package lives in
# operator/, so each run works in a throwaway copy where operator/ is src/. Per module it
# prints mutmut's counts and the surviving mutants; `MUTATION_KEEP=1` keeps the copies
# (then `cd <copy> && mutmut show <mutant>` shows a mutant's diff). `MUTATION_JOBS=N` caps
# mutmut's parallel test processes (default: one per CPU, mutmut's own default); on a shared
# machine run `MUTATION_JOBS=1 nice -n 19 hack/mutation.sh ...` so it only takes idle CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
mutmut=${MUTMUT:-$repo/.venv/bin/mutmut}
jobs=${MUTATION_JOBS:-$(nproc)}

# module -> its unit tests (the table in docs/testing.md lists the same modules)
declare -A TESTS=(
    [groups]="tests/unit/test_groups.py tests/unit/test_groups_literal.py"
    [conditions]="tests/unit/test_conditions.py"
    [naming]="tests/unit/test_naming.py"
    [builders]="tests/unit/test_builders.py tests/unit/test_builders_golden.py"
    [benchmark]="tests/unit/test_benchmark.py"
    [plan]="tests/unit/test_plan.py tests/unit/test_status.py tests/unit/test_plan_literal.py"
)
ORDER=(groups conditions naming builders benchmark plan)
# Tests left out of a module's run (pytest node ids): property tests whose hundreds of
# examples would take minutes per surviving mutant; the literal tests state what they check.
declare -A DESELECT=(
    [plan]="tests/unit/test_plan.py::test_plans_never_roll_two_groups_never_touch_strangers_never_delete_on_old_revisions"
)

modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${ORDER[@]}")

toml_list() { # words -> TOML list of strings
    local out="" word
    for word in "$@"; do out+="${out:+, }\"$word\""; done
    printf '[%s]' "$out"
}

for module in "${modules[@]}"; do
    tests=${TESTS[$module]:-}
    if [ -z "$tests" ]; then
        echo "unknown module: $module (known: ${ORDER[*]})" >&2
        exit 2
    fi
    deselect=""
    for test in ${DESELECT[$module]:-}; do deselect+=" --deselect $test"; done
    work=$(mktemp -d "${TMPDIR:-/tmp}/mutation-$module.XXXXXX")
    mkdir -p "$work/src"
    cp -r operator/sglang_operator "$work/src/"
    cp -r tests examples pyproject.toml "$work/"
    find "$work" -name __pycache__ -prune -exec rm -rf {} +
    # shellcheck disable=SC2086 # $tests and $deselect are word lists on purpose
    sed -i "/^\[tool.mutmut\]\$/a only_mutate = $(toml_list "src/sglang_operator/$module.py")\\
pytest_add_cli_args_test_selection = $(toml_list $tests $deselect)" "$work/pyproject.toml"

    echo "== $module.py against ${tests}${deselect}"
    start=$(date +%s)
    (cd "$work" && "$mutmut" run --max-children "$jobs" >"$work/run.log" 2>&1) || {
        tail -n 30 "$work/run.log" >&2
        exit 1
    }
    (cd "$work" && "$mutmut" export-cicd-stats >/dev/null)
    "$repo/.venv/bin/python" - "$work/mutants/mutmut-cicd-stats.json" "$module" \
        "$(($(date +%s) - start))" <<'EOF'
import json, sys

stats = json.load(open(sys.argv[1]))
killed = stats["killed"] + stats["timeout"]
total = stats["total"]
print(
    f"{sys.argv[2]}.py: {killed}/{total} killed ({100 * killed / total:.1f} %), "
    f"survived {stats['survived']}, no tests {stats['no_tests']}, "
    f"suspicious {stats['suspicious']}, {sys.argv[3]} s"
)
EOF
    (cd "$work" && "$mutmut" results) | grep -v ': killed$' || true
    if [ "${MUTATION_KEEP:-0}" = 1 ]; then
        echo "kept: $work"
    else
        rm -rf "$work"
    fi
done
