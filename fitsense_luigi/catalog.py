"""Reference knowledge shared by every stage: goals, conditions, equipment,
the exercise catalogue with its contraindication tags, medications, and the
safety rules that tie them together.

The synthetic world draws from it, queries derive expected safety constraints
from it, the mock coach plans with it and the post-checks judge any teacher's
plan against it, so one table of facts keeps all four consistent. Figures cite
``shared/reference/realism.md``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

CATALOG_NAMESPACE = uuid.UUID("5b0c7f3e-2f4a-4c1e-9a57-1f1d3c9e7a10")


def catalog_id(kind: str, name: str) -> uuid.UUID:
    """Stable across seeds and runs: reference rows are the app's fixed catalogue."""
    return uuid.uuid5(CATALOG_NAMESPACE, f"{kind}:{name}")


# ------------------------------------------------------------------------ goals
GOALS: dict[str, str] = {
    "weight_loss": "Lose body fat while keeping muscle",
    "muscle_gain": "Build muscle size (hypertrophy)",
    "strength": "Get stronger on the main lifts",
    "endurance": "Improve muscular and cardiovascular endurance",
    "general_fitness": "Move better and feel fitter overall",
}

# ------------------------------------------------------------------- equipment
EQUIPMENT: dict[str, str] = {
    "barbell": "free_weights",
    "dumbbells": "free_weights",
    "kettlebell": "free_weights",
    "squat_rack": "rack",
    "bench": "bench",
    "cable_machine": "machine",
    "leg_press_machine": "machine",
    "lat_pulldown_machine": "machine",
    "leg_curl_machine": "machine",
    "pull_up_bar": "bodyweight_station",
    "resistance_band": "accessory",
    "exercise_mat": "accessory",
    "stationary_bike": "cardio_machine",
    "rowing_machine": "cardio_machine",
    "plyo_box": "accessory",
}

HOME_EQUIPMENT = frozenset({"dumbbells", "resistance_band", "exercise_mat", "kettlebell", "pull_up_bar"})
GYM_EQUIPMENT = frozenset(EQUIPMENT)

# ----------------------------------------------------- contraindication tags
HIGH_IMPACT = "high_impact"
DEEP_LOADED_KNEE_FLEXION = "deep_loaded_knee_flexion"
HEAVY_SPINAL_LOADING = "heavy_spinal_loading"
LOADED_SPINAL_FLEXION = "loaded_spinal_flexion"
MAXIMAL_VALSALVA = "maximal_valsalva"
HEART_RATE_ZONES = "heart_rate_zone_prescription"


@dataclass(frozen=True)
class Exercise:
    name: str
    primary_muscle: str
    equipment: tuple[str, ...]
    pattern: str  # squat, hinge, push_h, push_v, pull_h, pull_v, lunge, core, conditioning, isolation
    impact: str  # low | moderate | high
    tags: frozenset[str]
    level: str  # beginner | intermediate | advanced
    load: str  # barbell | dumbbell | kettlebell | machine | cable | bodyweight | band | cardio
    strength_ratio: float  # typical 1RM / body weight for an intermediate man (per hand for dumbbells)
    # What a set's ``reps`` counts: repetitions, or seconds for holds, carries and cardio intervals
    # (the app schema has one ``reps`` column; a 45 s plank is logged as reps=45).
    unit: str = "reps"

    @property
    def timed(self) -> bool:
        return self.unit == "seconds"

    @property
    def exercise_id(self) -> uuid.UUID:
        return catalog_id("exercise", self.name)


def _ex(
    name: str,
    muscle: str,
    equipment: tuple[str, ...],
    pattern: str,
    impact: str,
    tags: tuple[str, ...],
    level: str,
    load: str,
    ratio: float,
    unit: str = "reps",
) -> Exercise:
    return Exercise(name, muscle, equipment, pattern, impact, frozenset(tags), level, load, ratio, unit)


EXERCISES: tuple[Exercise, ...] = (
    # squat / knee dominant
    _ex(
        "Barbell Back Squat",
        "quadriceps",
        ("barbell", "squat_rack"),
        "squat",
        "moderate",
        (HEAVY_SPINAL_LOADING, DEEP_LOADED_KNEE_FLEXION, MAXIMAL_VALSALVA),
        "intermediate",
        "barbell",
        1.25,
    ),
    _ex(
        "Barbell Front Squat",
        "quadriceps",
        ("barbell", "squat_rack"),
        "squat",
        "moderate",
        (HEAVY_SPINAL_LOADING, DEEP_LOADED_KNEE_FLEXION, MAXIMAL_VALSALVA),
        "advanced",
        "barbell",
        1.0,
    ),
    _ex("Goblet Squat", "quadriceps", ("dumbbells",), "squat", "low", (), "beginner", "dumbbell", 0.35),
    _ex(
        "Leg Press",
        "quadriceps",
        ("leg_press_machine",),
        "squat",
        "low",
        (MAXIMAL_VALSALVA,),
        "beginner",
        "machine",
        2.0,
    ),
    _ex("Box Squat to Bench", "quadriceps", ("bench",), "squat", "low", (), "beginner", "bodyweight", 0.0),
    _ex("Wall Sit", "quadriceps", (), "squat", "low", (), "beginner", "bodyweight", 0.0, "seconds"),
    _ex(
        "Bulgarian Split Squat",
        "quadriceps",
        ("dumbbells", "bench"),
        "lunge",
        "low",
        (DEEP_LOADED_KNEE_FLEXION,),
        "intermediate",
        "dumbbell",
        0.25,
    ),
    _ex(
        "Walking Lunge",
        "quadriceps",
        ("dumbbells",),
        "lunge",
        "moderate",
        (DEEP_LOADED_KNEE_FLEXION,),
        "intermediate",
        "dumbbell",
        0.25,
    ),
    _ex("Step-Up", "quadriceps", ("dumbbells", "bench"), "lunge", "low", (), "beginner", "dumbbell", 0.2),
    _ex(
        "Jump Squat",
        "quadriceps",
        (),
        "conditioning",
        "high",
        (HIGH_IMPACT,),
        "intermediate",
        "bodyweight",
        0.0,
    ),
    _ex(
        "Box Jump",
        "quadriceps",
        ("plyo_box",),
        "conditioning",
        "high",
        (HIGH_IMPACT,),
        "intermediate",
        "bodyweight",
        0.0,
    ),
    _ex(
        "Jumping Lunge",
        "quadriceps",
        (),
        "conditioning",
        "high",
        (HIGH_IMPACT, DEEP_LOADED_KNEE_FLEXION),
        "advanced",
        "bodyweight",
        0.0,
    ),
    _ex("Leg Extension", "quadriceps", ("cable_machine",), "isolation", "low", (), "beginner", "machine", 0.6),
    # hinge / posterior chain
    _ex(
        "Conventional Deadlift",
        "hamstrings",
        ("barbell",),
        "hinge",
        "moderate",
        (HEAVY_SPINAL_LOADING, LOADED_SPINAL_FLEXION, MAXIMAL_VALSALVA),
        "intermediate",
        "barbell",
        1.5,
    ),
    _ex(
        "Romanian Deadlift",
        "hamstrings",
        ("barbell",),
        "hinge",
        "low",
        (HEAVY_SPINAL_LOADING,),
        "intermediate",
        "barbell",
        1.0,
    ),
    _ex(
        "Dumbbell Romanian Deadlift",
        "hamstrings",
        ("dumbbells",),
        "hinge",
        "low",
        (),
        "beginner",
        "dumbbell",
        0.35,
    ),
    _ex(
        "Barbell Good Morning",
        "hamstrings",
        ("barbell", "squat_rack"),
        "hinge",
        "low",
        (HEAVY_SPINAL_LOADING, LOADED_SPINAL_FLEXION),
        "advanced",
        "barbell",
        0.6,
    ),
    _ex("Hip Thrust", "glutes", ("barbell", "bench"), "hinge", "low", (), "intermediate", "barbell", 1.3),
    _ex("Glute Bridge", "glutes", ("exercise_mat",), "hinge", "low", (), "beginner", "bodyweight", 0.0),
    _ex(
        "Kettlebell Swing",
        "glutes",
        ("kettlebell",),
        "hinge",
        "moderate",
        (),
        "intermediate",
        "kettlebell",
        0.3,
    ),
    _ex(
        "Seated Leg Curl",
        "hamstrings",
        ("leg_curl_machine",),
        "isolation",
        "low",
        (),
        "beginner",
        "machine",
        0.5,
    ),
    # horizontal push
    _ex(
        "Barbell Bench Press",
        "chest",
        ("barbell", "bench", "squat_rack"),
        "push_h",
        "low",
        (MAXIMAL_VALSALVA,),
        "intermediate",
        "barbell",
        1.05,
    ),
    _ex(
        "Dumbbell Bench Press",
        "chest",
        ("dumbbells", "bench"),
        "push_h",
        "low",
        (),
        "beginner",
        "dumbbell",
        0.35,
    ),
    _ex(
        "Incline Dumbbell Press",
        "chest",
        ("dumbbells", "bench"),
        "push_h",
        "low",
        (),
        "beginner",
        "dumbbell",
        0.3,
    ),
    _ex("Push-Up", "chest", (), "push_h", "low", (), "beginner", "bodyweight", 0.0),
    _ex("Cable Chest Fly", "chest", ("cable_machine",), "isolation", "low", (), "beginner", "cable", 0.2),
    # vertical push
    _ex(
        "Standing Overhead Press",
        "shoulders",
        ("barbell", "squat_rack"),
        "push_v",
        "low",
        (HEAVY_SPINAL_LOADING, MAXIMAL_VALSALVA),
        "intermediate",
        "barbell",
        0.65,
    ),
    _ex(
        "Seated Dumbbell Shoulder Press",
        "shoulders",
        ("dumbbells", "bench"),
        "push_v",
        "low",
        (),
        "beginner",
        "dumbbell",
        0.22,
    ),
    _ex(
        "Dumbbell Lateral Raise",
        "shoulders",
        ("dumbbells",),
        "isolation",
        "low",
        (),
        "beginner",
        "dumbbell",
        0.08,
    ),
    # pulls
    _ex("Pull-Up", "back", ("pull_up_bar",), "pull_v", "low", (), "intermediate", "bodyweight", 0.0),
    _ex("Lat Pulldown", "back", ("lat_pulldown_machine",), "pull_v", "low", (), "beginner", "machine", 0.8),
    _ex(
        "Band-Assisted Pull-Up",
        "back",
        ("pull_up_bar", "resistance_band"),
        "pull_v",
        "low",
        (),
        "beginner",
        "bodyweight",
        0.0,
    ),
    _ex(
        "Barbell Bent-Over Row",
        "back",
        ("barbell",),
        "pull_h",
        "low",
        (HEAVY_SPINAL_LOADING, LOADED_SPINAL_FLEXION),
        "intermediate",
        "barbell",
        0.9,
    ),
    _ex(
        "One-Arm Dumbbell Row",
        "back",
        ("dumbbells", "bench"),
        "pull_h",
        "low",
        (),
        "beginner",
        "dumbbell",
        0.35,
    ),
    _ex("Seated Cable Row", "back", ("cable_machine",), "pull_h", "low", (), "beginner", "cable", 0.8),
    _ex("Band Pull-Apart", "rear_deltoids", ("resistance_band",), "pull_h", "low", (), "beginner", "band", 0.0),
    _ex("Face Pull", "rear_deltoids", ("cable_machine",), "pull_h", "low", (), "beginner", "cable", 0.25),
    # arms
    _ex("Dumbbell Biceps Curl", "biceps", ("dumbbells",), "isolation", "low", (), "beginner", "dumbbell", 0.12),
    _ex(
        "Cable Triceps Pushdown",
        "triceps",
        ("cable_machine",),
        "isolation",
        "low",
        (),
        "beginner",
        "cable",
        0.3,
    ),
    # core
    _ex("Plank", "core", ("exercise_mat",), "core", "low", (), "beginner", "bodyweight", 0.0, "seconds"),
    _ex("Side Plank", "core", ("exercise_mat",), "core", "low", (), "beginner", "bodyweight", 0.0, "seconds"),
    _ex("Dead Bug", "core", ("exercise_mat",), "core", "low", (), "beginner", "bodyweight", 0.0),
    _ex("Bird Dog", "core", ("exercise_mat",), "core", "low", (), "beginner", "bodyweight", 0.0),
    _ex(
        "Weighted Sit-Up",
        "core",
        ("exercise_mat", "dumbbells"),
        "core",
        "low",
        (LOADED_SPINAL_FLEXION,),
        "intermediate",
        "dumbbell",
        0.15,
    ),
    _ex("Pallof Press", "core", ("cable_machine",), "core", "low", (), "beginner", "cable", 0.15),
    _ex("Farmer's Carry", "forearms", ("dumbbells",), "carry", "low", (), "beginner", "dumbbell", 0.4, "seconds"),
    # conditioning
    _ex("Burpee", "full_body", (), "conditioning", "high", (HIGH_IMPACT,), "intermediate", "bodyweight", 0.0),
    _ex(
        "Jumping Jacks",
        "full_body",
        (),
        "conditioning",
        "high",
        (HIGH_IMPACT,),
        "beginner",
        "bodyweight",
        0.0,
    ),
    _ex(
        "Stationary Bike Intervals",
        "full_body",
        ("stationary_bike",),
        "conditioning",
        "low",
        (HEART_RATE_ZONES,),
        "beginner",
        "cardio",
        0.0,
        "seconds",
    ),
    _ex(
        "Rowing Machine Intervals",
        "full_body",
        ("rowing_machine",),
        "conditioning",
        "low",
        (HEART_RATE_ZONES,),
        "beginner",
        "cardio",
        0.0,
        "seconds",
    ),
)

EXERCISES_BY_NAME: dict[str, Exercise] = {e.name: e for e in EXERCISES}

# ------------------------------------------------------------------ conditions
CONDITIONS: dict[str, str] = {
    "hypertension": "High blood pressure (>= 130/80 mmHg)",
    "type_2_diabetes": "Type 2 diabetes mellitus",
    "asthma": "Current asthma",
    "knee_osteoarthritis": "Knee pain or knee osteoarthritis",
    "lower_back_pain": "Lower back pain in the past three months",
}

# exercises tagged with these must not appear in a plan for a user with the condition
CONDITION_AVOIDS: dict[str, frozenset[str]] = {
    "hypertension": frozenset({MAXIMAL_VALSALVA}),
    "type_2_diabetes": frozenset(),
    "asthma": frozenset(),
    "knee_osteoarthritis": frozenset({HIGH_IMPACT, DEEP_LOADED_KNEE_FLEXION}),
    "lower_back_pain": frozenset({HEAVY_SPINAL_LOADING, LOADED_SPINAL_FLEXION}),
}


@dataclass(frozen=True)
class SafetyConstraint:
    constraint_id: str
    text: str
    keywords: tuple[str, ...]  # words a plan's safety notes use when it addresses the constraint


SAFETY_CONSTRAINTS: dict[str, SafetyConstraint] = {
    c.constraint_id: c
    for c in (
        SafetyConstraint(
            "avoid_valsalva",
            "Lift rhythmically and exhale on effort; no breath-holding (Valsalva) or maximal singles (AHA 2007).",
            ("valsalva", "breath", "exhale"),
        ),
        SafetyConstraint(
            "rpe_not_heart_rate",
            "A beta-blocker blunts heart rate by 20-30%: prescribe effort by RPE/RIR, never by "
            "'220 - age' heart-rate zones (Eston & Thompson 1997).",
            ("rpe", "perceived exertion"),
        ),
        SafetyConstraint(
            "low_impact_knee",
            "Knee pain/osteoarthritis: favour low-impact strength and aerobic work; no jumping (Bennell 2011).",
            ("low-impact", "low impact", "knee"),
        ),
        SafetyConstraint(
            "protect_lower_back",
            "Lower back pain: avoid heavy loaded spinal flexion early and progress load gradually.",
            ("back", "spine", "spinal"),
        ),
        SafetyConstraint(
            "nonconsecutive_resistance_days",
            "Diabetes: 2-3 resistance sessions a week on non-consecutive days (ADA 2016).",
            ("non-consecutive", "rest day", "between sessions"),
        ),
        SafetyConstraint(
            "hypoglycaemia_watch",
            "On insulin or a sulfonylurea: check glucose around sessions and keep fast "
            "carbohydrate at hand (ADA 2016).",
            ("glucose", "hypoglyc", "carbohydrate"),
        ),
        SafetyConstraint(
            "asthma_warmup_inhaler",
            "Asthma: warm up gradually and keep the reliever inhaler at hand.",
            ("warm up", "warm-up", "inhaler"),
        ),
    )
}

CONDITION_CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "hypertension": ("avoid_valsalva",),
    "type_2_diabetes": ("nonconsecutive_resistance_days",),
    "asthma": ("asthma_warmup_inhaler",),
    "knee_osteoarthritis": ("low_impact_knee",),
    "lower_back_pain": ("protect_lower_back",),
}


# ------------------------------------------------------------------ medications
@dataclass(frozen=True)
class Medication:
    name: str
    treats: str  # condition name
    dosages: tuple[str, ...]
    frequency: str
    constraints: tuple[str, ...] = ()
    avoids: frozenset[str] = frozenset()


MEDICATIONS: tuple[Medication, ...] = (
    Medication("lisinopril", "hypertension", ("10 mg", "20 mg", "40 mg"), "once daily"),
    Medication("amlodipine", "hypertension", ("5 mg", "10 mg"), "once daily"),
    Medication(
        "metoprolol succinate",
        "hypertension",
        ("25 mg", "50 mg", "100 mg"),
        "once daily",
        ("rpe_not_heart_rate",),
        frozenset({HEART_RATE_ZONES}),
    ),
    Medication("metformin", "type_2_diabetes", ("500 mg", "850 mg", "1000 mg"), "twice daily with meals"),
    Medication(
        "glipizide",
        "type_2_diabetes",
        ("5 mg", "10 mg"),
        "once daily before breakfast",
        ("hypoglycaemia_watch",),
    ),
    Medication(
        "insulin glargine",
        "type_2_diabetes",
        ("10 units", "20 units", "30 units"),
        "once daily at bedtime",
        ("hypoglycaemia_watch",),
    ),
    Medication("albuterol inhaler", "asthma", ("90 mcg, 2 puffs",), "as needed"),
    Medication("fluticasone inhaler", "asthma", ("110 mcg, 2 puffs",), "twice daily"),
    Medication("naproxen", "knee_osteoarthritis", ("220 mg", "500 mg"), "as needed, up to twice daily"),
    Medication("acetaminophen", "lower_back_pain", ("500 mg", "650 mg"), "as needed, up to 3 times daily"),
    # ADA: a statin for people with diabetes aged 40-75 (cardiovascular risk); among the commonest US drugs (MEPS)
    Medication("atorvastatin", "type_2_diabetes", ("10 mg", "20 mg", "40 mg"), "once daily in the evening"),
)

MEDICATIONS_BY_NAME: dict[str, Medication] = {m.name: m for m in MEDICATIONS}
BETA_BLOCKERS = frozenset({"metoprolol succinate"})

# ------------------------------------------------------------------ allergies
FOOD_ALLERGENS: tuple[tuple[str, float], ...] = (  # relative frequency (Gupta 2019 ordering)
    ("shellfish", 0.35),
    ("milk", 0.24),
    ("peanut", 0.19),
    ("tree nuts", 0.14),
    ("fin fish", 0.08),
)
DRUG_ALLERGENS: tuple[str, ...] = ("penicillin",)


def constraints_for(conditions: list[str] | tuple[str, ...], medications: list[str] | tuple[str, ...]) -> list[str]:
    """Expected safety constraints, in a stable order, for a user's conditions and medications."""
    found: list[str] = []
    for condition in conditions:
        found.extend(CONDITION_CONSTRAINTS.get(condition, ()))
    for name in medications:
        med = MEDICATIONS_BY_NAME.get(name)
        if med:
            found.extend(med.constraints)
    order = list(SAFETY_CONSTRAINTS)
    return sorted(set(found), key=order.index)


def avoided_tags(conditions: list[str] | tuple[str, ...], medications: list[str] | tuple[str, ...]) -> frozenset[str]:
    tags: set[str] = set()
    for condition in conditions:
        tags |= CONDITION_AVOIDS.get(condition, frozenset())
    for name in medications:
        med = MEDICATIONS_BY_NAME.get(name)
        if med:
            tags |= med.avoids
    return frozenset(tags)
