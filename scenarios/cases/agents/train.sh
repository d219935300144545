#!/bin/sh
# Train the case studies' agents (the `drl` policy of experiments/case_*.toml) and write training.json.
# Run from the repository root with the rl extra installed: sh scenarios/cases/agents/train.sh
# Each agent is MaskablePPO cloned from HEFT's decisions (20,000 on training runs, seeds 1e9 and above) with
# no RL step (--timesteps 0); about 20 s of one CPU core per case.
set -e
PYTHON=${PYTHON:-python}
for case in speech_recognition medical_diagnosis intelligent_traffic autonomous_driving; do
  "$PYTHON" -m simulator train "scenarios/cases/$case.toml" --algorithm maskable_ppo --imitate heft \
    --imitation-decisions 20000 --timesteps 0 --seed 0 --out "scenarios/cases/agents/$case.zip"
  rm -f "scenarios/cases/agents/$case.curve.csv"  # no RL step: the learning curve has no rows
done
"$PYTHON" - <<'PY'
import json
from pathlib import Path

from simulator.policies.learned import read_agent_metadata

folder = Path("scenarios/cases/agents")
record = {}
for path in sorted(folder.glob("*.zip")):
    metadata = read_agent_metadata(path)
    metadata.pop("layout")  # the observation layout: long, and inside the zip anyway
    record[path.stem] = metadata
(folder / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
print(f"wrote {folder / 'training.json'}")
PY
