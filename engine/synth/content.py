"""Readable generated scientific content: titles and structured abstracts per therapeutic area.

Each therapeutic area has a few *subtopics* (the latent themes of the world). A subtopic carries
its own vocabulary (interventions, comparators, populations, endpoints, background and
conclusion sentences), so abstracts read like real structured abstracts
(Background / Methods / Results / Conclusions) and an LDA topic model can recover the areas.
Real abstracts are mapped onto the same subtopics by keyword matching (:func:`assign_subtopics`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The six therapeutic areas (the seed PubMed ``Topic`` values), in a fixed order.
AREAS: tuple[str, ...] = (
    "Diabetes Management",
    "Cardiovascular Risk",
    "Vaccination Awareness",
    "Thyroid Disorders",
    "Respiratory Care",
    "Oncology Treatment Update",
)


@dataclass(frozen=True)
class Endpoint:
    """A trial endpoint: ``kind`` is ``"hr"`` (time-to-event, hazard ratio) or ``"diff"``
    (mean difference in ``unit`` with typical magnitude ``scale``)."""

    name: str
    kind: str
    unit: str = ""
    scale: float = 1.0


@dataclass(frozen=True)
class Subtopic:
    name: str
    area: str
    keywords: tuple[str, ...]          # lower-case stems used to map real abstracts
    interventions: tuple[str, ...]
    comparators: tuple[str, ...]
    populations: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    secondary: tuple[str, ...]
    adverse_events: tuple[str, ...]
    backgrounds: tuple[str, ...]
    conclusions: tuple[str, ...]      # may use {intervention} and {population}


D, C, V, T, R, O = AREAS

SUBTOPICS: tuple[Subtopic, ...] = (
    # ------------------------------------------------------------------ Diabetes Management
    Subtopic(
        "SGLT2 inhibitors", D,
        ("sglt2", "sodium-glucose", "empagliflozin", "dapagliflozin", "canagliflozin", "gliflozin", "ketoacidosis"),
        ("empagliflozin 10 mg", "dapagliflozin 10 mg", "canagliflozin 100 mg", "ertugliflozin 5 mg"),
        ("placebo", "sitagliptin", "glimepiride", "usual care"),
        ("adults with type 2 diabetes and chronic kidney disease", "adults with type 2 diabetes and heart failure",
         "older adults with type 2 diabetes", "patients with type 2 diabetes and albuminuria"),
        (Endpoint("kidney disease progression", "hr"), Endpoint("hospitalization for heart failure", "hr"),
         Endpoint("change in glycated hemoglobin", "diff", "percentage points", 0.5),
         Endpoint("change in urinary albumin-to-creatinine ratio", "diff", "mg/g", 40)),
        ("estimated glomerular filtration rate slope", "body weight", "systolic blood pressure", "serum uric acid"),
        ("genital mycotic infection", "volume depletion", "euglycemic ketoacidosis"),
        ("Sodium-glucose cotransporter 2 inhibitors lower glucose by promoting urinary glucose excretion and have shown kidney and heart failure benefits.",
         "Renal protection with sodium-glucose cotransporter 2 inhibition is increasingly recognised beyond glycemic control.",
         "The glycosuric effect of gliflozins may be attenuated at lower kidney function, yet organ protection appears preserved."),
        ("{intervention} reduced kidney and heart failure events in {population} and should be considered early in treatment.",
         "These findings support broader use of sodium-glucose cotransporter 2 inhibitors in {population}.",
         "Clinicians should weigh the kidney benefit of {intervention} against the small risk of ketoacidosis."),
    ),
    Subtopic(
        "GLP-1 receptor agonists", D,
        ("glp-1", "glucagon-like", "semaglutide", "liraglutide", "dulaglutide", "tirzepatide", "incretin", "obesity", "weight loss"),
        ("once-weekly semaglutide", "tirzepatide", "oral semaglutide", "dulaglutide"),
        ("placebo", "insulin glargine", "liraglutide", "basal insulin"),
        ("adults with type 2 diabetes and obesity", "adults with overweight and prediabetes",
         "patients with type 2 diabetes and established cardiovascular disease", "adolescents with obesity"),
        (Endpoint("change in body weight", "diff", "percent", 6.0),
         Endpoint("change in glycated hemoglobin", "diff", "percentage points", 0.8),
         Endpoint("major adverse cardiovascular events", "hr")),
        ("waist circumference", "fasting plasma glucose", "appetite scores", "quality of life"),
        ("nausea", "vomiting", "diarrhea", "gallbladder events"),
        ("Glucagon-like peptide-1 receptor agonists improve glycemic control and promote clinically meaningful weight loss.",
         "Incretin-based therapies have changed the management of obesity and type 2 diabetes.",
         "Dual incretin agonism may provide weight reduction beyond that achieved with selective receptor agonists."),
        ("{intervention} produced substantial weight loss and glycemic improvement in {population}.",
         "Incretin therapy with {intervention} should be considered for {population} who need weight reduction.",
         "Gastrointestinal tolerability of {intervention} was acceptable with gradual dose escalation."),
    ),
    Subtopic(
        "Insulin titration", D,
        ("insulin", "basal", "glargine", "degludec", "titration", "hypoglycemia", "hypoglycaemia"),
        ("a patient-led basal insulin titration algorithm", "once-weekly insulin icodec", "insulin degludec",
         "a pharmacist-managed titration protocol"),
        ("physician-led titration", "insulin glargine U100", "daily basal insulin", "standard care"),
        ("insulin-naive adults with type 2 diabetes", "adults with type 2 diabetes on basal insulin",
         "hospitalized patients with hyperglycemia", "older adults at risk of hypoglycemia"),
        (Endpoint("change in glycated hemoglobin", "diff", "percentage points", 0.4),
         Endpoint("time to target fasting glucose", "diff", "days", 9),
         Endpoint("level 2 hypoglycemia", "hr")),
        ("fasting plasma glucose", "daily insulin dose", "treatment satisfaction", "nocturnal hypoglycemia"),
        ("hypoglycemia", "injection-site reactions", "weight gain"),
        ("Clinical inertia in basal insulin titration leaves many patients above glycemic targets for years.",
         "Simple titration algorithms can help patients reach fasting glucose targets without more visits.",
         "Longer-acting basal insulins may reduce injection burden and hypoglycemia."),
        ("{intervention} improved glycemic control in {population} without more hypoglycemia.",
         "Structured titration with {intervention} is a practical option for {population}.",
         "Reducing clinical inertia with {intervention} may help {population} reach targets sooner."),
    ),
    Subtopic(
        "Continuous glucose monitoring", D,
        ("continuous glucose", "cgm", "sensor", "time in range", "flash glucose", "glucose monitoring"),
        ("real-time continuous glucose monitoring", "intermittently scanned glucose monitoring",
         "a sensor-augmented remote coaching program", "a hybrid closed-loop system"),
        ("self-monitoring of blood glucose", "usual care", "blinded sensor wear", "fingerstick testing"),
        ("adults with type 2 diabetes on basal insulin", "adults with type 1 diabetes",
         "pregnant women with type 1 diabetes", "primary care patients with uncontrolled type 2 diabetes"),
        (Endpoint("change in time in range", "diff", "percentage points", 8),
         Endpoint("change in glycated hemoglobin", "diff", "percentage points", 0.4),
         Endpoint("time below range", "diff", "percentage points", 1.2)),
        ("glycemic variability", "diabetes distress", "sensor wear time", "severe hypoglycemia"),
        ("skin irritation", "sensor dislodgement", "alarm fatigue"),
        ("Continuous glucose monitoring provides glucose profiles that fingerstick testing cannot capture.",
         "Time in range has emerged as a key metric complementing glycated hemoglobin.",
         "Access to glucose sensors in primary care remains uneven despite expanding coverage."),
        ("{intervention} increased time in range and reduced hypoglycemia in {population}.",
         "Sensor-based glucose monitoring should be offered to {population}.",
         "{intervention} was well accepted by {population} and improved glycemic metrics."),
    ),
    # ------------------------------------------------------------------ Cardiovascular Risk
    Subtopic(
        "Lipid lowering", C,
        ("ldl", "cholesterol", "statin", "pcsk9", "lipid", "lipoprotein", "ezetimibe", "inclisiran", "atorvastatin"),
        ("inclisiran", "evolocumab", "high-intensity atorvastatin plus ezetimibe", "bempedoic acid"),
        ("placebo", "statin monotherapy", "moderate-intensity statin therapy", "usual lipid management"),
        ("patients with atherosclerotic cardiovascular disease", "adults with familial hypercholesterolemia",
         "statin-intolerant patients", "patients after acute coronary syndrome"),
        (Endpoint("percent change in LDL cholesterol", "diff", "percent", 40),
         Endpoint("major adverse cardiovascular events", "hr"),
         Endpoint("attainment of LDL cholesterol below 55 mg/dL", "diff", "percentage points", 25)),
        ("lipoprotein(a)", "apolipoprotein B", "non-HDL cholesterol", "triglycerides"),
        ("myalgia", "injection-site reactions", "elevated liver enzymes"),
        ("Low-density lipoprotein cholesterol is a causal risk factor for atherosclerotic cardiovascular disease.",
         "Many patients at very high risk do not reach guideline LDL cholesterol targets with statins alone.",
         "Proprotein convertase subtilisin/kexin type 9 inhibition offers additional LDL cholesterol reduction."),
        ("{intervention} lowered LDL cholesterol substantially in {population}.",
         "Combination lipid-lowering therapy with {intervention} helps {population} reach guideline targets.",
         "Earlier and more intensive LDL cholesterol lowering with {intervention} is warranted in {population}."),
    ),
    Subtopic(
        "Hypertension control", C,
        ("hypertension", "blood pressure", "antihypertensive", "amlodipine", "renal denervation", "systolic"),
        ("a single-pill triple combination", "intensive blood pressure control", "renal denervation",
         "a team-based home blood pressure monitoring program"),
        ("standard blood pressure control", "usual care", "sham procedure", "dual combination therapy"),
        ("adults with uncontrolled hypertension", "older adults with hypertension",
         "Black adults with hypertension in community settings", "patients with resistant hypertension"),
        (Endpoint("change in systolic blood pressure", "diff", "mm Hg", 8),
         Endpoint("major adverse cardiovascular events", "hr"),
         Endpoint("blood pressure control below 130/80 mm Hg", "diff", "percentage points", 15)),
        ("diastolic blood pressure", "medication adherence", "ambulatory blood pressure", "left ventricular mass"),
        ("dizziness", "hypotension", "hyperkalemia", "peripheral edema"),
        ("Hypertension remains the leading modifiable risk factor for stroke and cardiovascular death.",
         "Fewer than half of adults with hypertension have their blood pressure controlled.",
         "Home blood pressure monitoring and simplified regimens may close the control gap."),
        ("{intervention} improved blood pressure control in {population}.",
         "Simplified treatment with {intervention} should be considered for {population}.",
         "Intensive blood pressure lowering with {intervention} reduced cardiovascular events in {population}."),
    ),
    Subtopic(
        "Heart failure", C,
        ("heart failure", "ejection fraction", "hfref", "hfpef", "sacubitril", "natriuretic", "cardiomyopathy"),
        ("sacubitril-valsartan", "finerenone", "guideline-directed medical therapy optimisation",
         "a rapid up-titration strategy"),
        ("enalapril", "placebo", "usual care", "standard titration"),
        ("patients with heart failure with reduced ejection fraction", "patients with heart failure with preserved ejection fraction",
         "patients recently hospitalized for heart failure", "older adults with chronic heart failure"),
        (Endpoint("cardiovascular death or worsening heart failure", "hr"),
         Endpoint("change in NT-proBNP", "diff", "percent", 20),
         Endpoint("change in Kansas City Cardiomyopathy Questionnaire score", "diff", "points", 5)),
        ("six-minute walk distance", "all-cause hospitalization", "left ventricular ejection fraction", "kidney function"),
        ("hypotension", "hyperkalemia", "worsening renal function"),
        ("Heart failure affects more than six million adults and carries a high risk of hospitalization.",
         "Guideline-directed medical therapy for heart failure remains underused and under-dosed.",
         "Treatment options for heart failure with preserved ejection fraction have expanded recently."),
        ("{intervention} reduced heart failure events in {population}.",
         "Rapid optimisation with {intervention} should become standard for {population}.",
         "{intervention} improved symptoms and outcomes in {population}."),
    ),
    Subtopic(
        "Anticoagulation in atrial fibrillation", C,
        ("atrial fibrillation", "anticoagul", "apixaban", "rivaroxaban", "warfarin", "stroke prevention", "bleeding"),
        ("apixaban", "rivaroxaban", "left atrial appendage occlusion", "a direct oral anticoagulant"),
        ("warfarin", "aspirin", "no anticoagulation", "vitamin K antagonist therapy"),
        ("patients with atrial fibrillation", "older adults with atrial fibrillation and frailty",
         "patients with device-detected subclinical atrial fibrillation", "patients with atrial fibrillation and chronic kidney disease"),
        (Endpoint("stroke or systemic embolism", "hr"), Endpoint("major bleeding", "hr"),
         Endpoint("net adverse clinical events", "hr")),
        ("intracranial hemorrhage", "all-cause mortality", "treatment persistence", "clinically relevant bleeding"),
        ("major bleeding", "gastrointestinal bleeding", "anemia"),
        ("Atrial fibrillation increases the risk of ischemic stroke fivefold.",
         "Direct oral anticoagulants have largely replaced vitamin K antagonists for stroke prevention.",
         "Balancing stroke prevention against bleeding risk is challenging in frail older adults."),
        ("{intervention} provided effective stroke prevention with acceptable bleeding in {population}.",
         "Anticoagulation with {intervention} should not be withheld from {population}.",
         "Bleeding risk with {intervention} was lower than expected in {population}."),
    ),
    # ------------------------------------------------------------------ Vaccination Awareness
    Subtopic(
        "Influenza vaccination", V,
        ("influenza", "flu ", "flu vaccine", "hemagglutinin", "seasonal vaccine"),
        ("high-dose influenza vaccine", "adjuvanted influenza vaccine", "recombinant influenza vaccine",
         "an electronic reminder for influenza vaccination"),
        ("standard-dose influenza vaccine", "no reminder", "egg-based vaccine", "usual care"),
        ("adults aged 65 years or older", "health care workers", "pregnant women", "adults with chronic heart disease"),
        (Endpoint("laboratory-confirmed influenza", "hr"), Endpoint("influenza-related hospitalization", "hr"),
         Endpoint("vaccination uptake", "diff", "percentage points", 8)),
        ("pneumonia hospitalization", "hemagglutination inhibition titers", "all-cause mortality", "outpatient visits"),
        ("injection-site pain", "fatigue", "low-grade fever"),
        ("Seasonal influenza causes substantial morbidity and mortality, particularly in older adults.",
         "Influenza vaccine effectiveness varies by season, age and vaccine platform.",
         "Influenza vaccination coverage remains below national targets in several risk groups."),
        ("{intervention} reduced influenza outcomes in {population}.",
         "Preferential use of {intervention} in {population} is supported by these data.",
         "{intervention} increased influenza protection among {population}."),
    ),
    Subtopic(
        "COVID-19 boosters", V,
        ("covid", "sars-cov-2", "mrna", "booster", "coronavirus", "bivalent"),
        ("an updated monovalent mRNA booster", "a bivalent mRNA booster", "a protein subunit booster",
         "a pharmacist-led booster outreach program"),
        ("no booster", "the original monovalent vaccine", "a single earlier booster", "standard outreach"),
        ("adults aged 65 years or older", "immunocompromised adults", "nursing home residents", "adults with chronic medical conditions"),
        (Endpoint("COVID-19 hospitalization", "hr"), Endpoint("symptomatic SARS-CoV-2 infection", "hr"),
         Endpoint("booster uptake", "diff", "percentage points", 10)),
        ("neutralizing antibody titers", "emergency department visits", "intensive care admission", "waning protection"),
        ("injection-site pain", "myalgia", "headache", "myocarditis"),
        ("Protection conferred by COVID-19 vaccines wanes over time and against new variants.",
         "Updated mRNA vaccines are recommended for groups at high risk of severe COVID-19.",
         "COVID-19 booster uptake has declined despite continued risk in older adults."),
        ("{intervention} restored protection against severe COVID-19 in {population}.",
         "Annual COVID-19 boosters remain important for {population}.",
         "{intervention} improved COVID-19 booster coverage among {population}."),
    ),
    Subtopic(
        "HPV vaccination", V,
        ("hpv", "papillomavirus", "cervical", "gardasil", "adolescent vaccin"),
        ("a single-dose HPV vaccine schedule", "a school-based HPV vaccination program",
         "provider presumptive communication training", "text-message reminders for HPV vaccination"),
        ("a two-dose schedule", "usual care", "standard counselling", "no reminders"),
        ("adolescents aged 9 to 14 years", "young adults aged 18 to 26 years", "parents of adolescents", "women aged 25 to 45 years"),
        (Endpoint("HPV vaccine series completion", "diff", "percentage points", 12),
         Endpoint("persistent HPV 16/18 infection", "hr"),
         Endpoint("high-grade cervical lesions", "hr")),
        ("vaccine hesitancy scores", "seroconversion", "missed vaccination opportunities", "parental intent"),
        ("syncope", "injection-site pain", "headache"),
        ("Human papillomavirus causes nearly all cervical cancers and a growing share of oropharyngeal cancers.",
         "HPV vaccination coverage among adolescents lags behind other routine vaccines.",
         "Simplified dosing schedules could make HPV vaccination easier to deliver."),
        ("{intervention} increased HPV vaccination among {population}.",
         "Clinicians should recommend HPV vaccination to {population} with a presumptive approach.",
         "{intervention} provided durable protection against HPV infection in {population}."),
    ),
    Subtopic(
        "RSV prevention", V,
        ("rsv", "respiratory syncytial", "nirsevimab", "prefusion f"),
        ("an RSV prefusion F vaccine", "nirsevimab", "maternal RSV vaccination", "an adjuvanted RSV vaccine"),
        ("placebo", "no immunization", "standard care", "palivizumab"),
        ("adults aged 60 years or older", "infants entering their first RSV season", "pregnant women at 32 to 36 weeks of gestation",
         "adults with chronic lung disease"),
        (Endpoint("RSV-associated lower respiratory tract disease", "hr"), Endpoint("RSV hospitalization", "hr"),
         Endpoint("RSV immunization uptake", "diff", "percentage points", 9)),
        ("medically attended RSV infection", "neutralizing antibody titers", "emergency department visits", "oxygen use"),
        ("injection-site pain", "fatigue", "Guillain-Barre syndrome"),
        ("Respiratory syncytial virus is a major cause of hospitalization in infants and older adults.",
         "New RSV vaccines and long-acting monoclonal antibodies became available recently.",
         "RSV burden in older adults has long been underestimated."),
        ("{intervention} prevented RSV disease in {population}.",
         "RSV immunization with {intervention} should be offered to {population}.",
         "{intervention} reduced RSV hospitalizations among {population}."),
    ),
    # ------------------------------------------------------------------ Thyroid Disorders
    Subtopic(
        "Hypothyroidism management", T,
        ("hypothyroid", "levothyroxine", "tsh", "thyrotropin", "subclinical", "hashimoto"),
        ("levothyroxine dose adjustment guided by TSH", "liquid levothyroxine", "combination levothyroxine and liothyronine",
         "deprescribing of levothyroxine"),
        ("tablet levothyroxine", "levothyroxine monotherapy", "continued therapy", "usual care"),
        ("older adults with subclinical hypothyroidism", "patients with Hashimoto thyroiditis",
         "pregnant women with hypothyroidism", "patients with persistent symptoms on levothyroxine"),
        (Endpoint("change in thyroid-related quality of life", "diff", "points", 4),
         Endpoint("TSH within the reference range", "diff", "percentage points", 12),
         Endpoint("change in serum TSH", "diff", "mIU/L", 1.2)),
        ("fatigue scores", "body weight", "free thyroxine", "cardiovascular events"),
        ("palpitations", "atrial fibrillation", "bone loss"),
        ("Hypothyroidism is common, and levothyroxine is one of the most prescribed drugs.",
         "Many patients with subclinical hypothyroidism are treated despite limited evidence of benefit.",
         "Absorption of levothyroxine tablets is affected by food, coffee and gastric acidity."),
        ("{intervention} kept TSH within target more consistently in {population}.",
         "Routine levothyroxine treatment offers little symptomatic benefit for {population}.",
         "{intervention} is a reasonable option for {population}."),
    ),
    Subtopic(
        "Hyperthyroidism and Graves disease", T,
        ("hyperthyroid", "graves", "thyrotoxicosis", "methimazole", "antithyroid", "radioiodine", "orbitopathy"),
        ("long-term methimazole therapy", "radioactive iodine ablation", "teprotumumab", "total thyroidectomy"),
        ("short-course methimazole", "antithyroid drugs", "placebo", "radioactive iodine"),
        ("patients with Graves disease", "patients with thyroid eye disease", "older adults with toxic nodular goiter",
         "patients with relapsed Graves hyperthyroidism"),
        (Endpoint("relapse of hyperthyroidism", "hr"),
         Endpoint("proptosis response", "diff", "percentage points", 30),
         Endpoint("time to euthyroidism", "diff", "weeks", 3)),
        ("TSH receptor antibody levels", "clinical activity score", "quality of life", "weight change"),
        ("agranulocytosis", "rash", "hepatotoxicity", "hypothyroidism"),
        ("Graves disease is the most common cause of hyperthyroidism.",
         "Relapse after a standard course of antithyroid drugs occurs in about half of patients.",
         "Thyroid eye disease affects quality of life and has new targeted treatments."),
        ("{intervention} lowered relapse rates in {population}.",
         "{intervention} is an effective and safe choice for {population}.",
         "Treatment decisions for {population} should consider relapse risk and patient preference."),
    ),
    Subtopic(
        "Thyroid nodules and cancer", T,
        ("nodule", "thyroid cancer", "papillary", "fine-needle", "ultrasound", "thyroidectomy", "carcinoma"),
        ("active surveillance", "radiofrequency ablation", "molecular testing of indeterminate nodules", "lobectomy"),
        ("immediate surgery", "total thyroidectomy", "diagnostic lobectomy", "observation"),
        ("patients with low-risk papillary thyroid microcarcinoma", "adults with benign symptomatic thyroid nodules",
         "patients with cytologically indeterminate nodules", "patients with differentiated thyroid cancer"),
        (Endpoint("disease progression", "hr"), Endpoint("nodule volume reduction", "diff", "percent", 25),
         Endpoint("avoided diagnostic surgery", "diff", "percentage points", 20)),
        ("vocal cord palsy", "health care costs", "anxiety scores", "recurrence"),
        ("transient voice change", "hypocalcemia", "neck pain"),
        ("Thyroid nodules are detected in up to two thirds of adults by ultrasound.",
         "Overdiagnosis of small papillary thyroid cancers has driven unnecessary surgery.",
         "Molecular testing can refine the risk of malignancy in indeterminate thyroid nodules."),
        ("{intervention} safely avoided surgery for many {population}.",
         "{intervention} should be discussed with {population}.",
         "De-escalation with {intervention} is appropriate for {population}."),
    ),
    # ------------------------------------------------------------------ Respiratory Care
    Subtopic(
        "Severe asthma biologics", R,
        ("asthma", "eosinophil", "biologic", "dupilumab", "mepolizumab", "tezepelumab", "exacerbation"),
        ("tezepelumab", "dupilumab", "mepolizumab", "benralizumab"),
        ("placebo", "high-dose inhaled corticosteroids", "oral corticosteroids", "standard care"),
        ("patients with severe eosinophilic asthma", "adolescents with uncontrolled asthma",
         "patients with oral corticosteroid-dependent asthma", "adults with type 2 high asthma"),
        (Endpoint("annualized rate of asthma exacerbations", "hr"),
         Endpoint("change in prebronchodilator FEV1", "diff", "mL", 120),
         Endpoint("oral corticosteroid dose reduction", "diff", "percent", 30)),
        ("asthma control questionnaire score", "blood eosinophil count", "fractional exhaled nitric oxide", "emergency visits"),
        ("nasopharyngitis", "injection-site reactions", "conjunctivitis"),
        ("Severe asthma affects a minority of patients but accounts for most asthma-related costs.",
         "Biologic therapies targeting type 2 inflammation reduce exacerbations in eosinophilic asthma.",
         "Many eligible patients with severe asthma still rely on oral corticosteroids."),
        ("{intervention} reduced asthma exacerbations in {population}.",
         "{intervention} allowed {population} to reduce oral corticosteroid use.",
         "Biologic therapy with {intervention} should be considered early for {population}."),
    ),
    Subtopic(
        "COPD inhaled therapy", R,
        ("copd", "chronic obstructive", "bronchodilator", "inhaler", "triple therapy", "emphysema", "spirometry"),
        ("single-inhaler triple therapy", "a long-acting muscarinic antagonist plus long-acting beta agonist",
         "ensifentrine", "a pharmacist-led inhaler technique program"),
        ("dual bronchodilator therapy", "inhaled corticosteroid plus long-acting beta agonist", "placebo", "usual care"),
        ("patients with moderate to very severe COPD", "patients with COPD and frequent exacerbations",
         "older adults with COPD in primary care", "current smokers with COPD"),
        (Endpoint("moderate or severe COPD exacerbations", "hr"),
         Endpoint("change in trough FEV1", "diff", "mL", 90),
         Endpoint("change in St George's Respiratory Questionnaire score", "diff", "points", 4)),
        ("dyspnea scores", "rescue medication use", "all-cause mortality", "pneumonia"),
        ("pneumonia", "dry mouth", "oral candidiasis"),
        ("Chronic obstructive pulmonary disease is a leading cause of death and hospitalization worldwide.",
         "Exacerbations of COPD accelerate lung function decline and increase mortality.",
         "Poor inhaler technique undermines the benefit of bronchodilator therapy in COPD."),
        ("{intervention} reduced exacerbations in {population}.",
         "{intervention} improved lung function and symptoms in {population}.",
         "Optimised inhaled therapy with {intervention} should be offered to {population}."),
    ),
    Subtopic(
        "Smoking cessation and pulmonary rehabilitation", R,
        ("smoking", "tobacco", "cessation", "varenicline", "rehabilitation", "e-cigarette", "nicotine"),
        ("varenicline", "home-based pulmonary rehabilitation", "combination nicotine replacement therapy",
         "a telehealth cessation program"),
        ("nicotine patch alone", "center-based rehabilitation", "brief advice", "usual care"),
        ("adult smokers in primary care", "patients after hospitalization for COPD",
         "smokers with cardiovascular disease", "adults with chronic lung disease"),
        (Endpoint("continuous abstinence at 6 months", "diff", "percentage points", 9),
         Endpoint("change in six-minute walk distance", "diff", "meters", 30),
         Endpoint("hospital readmission", "hr")),
        ("exhaled carbon monoxide", "program completion", "dyspnea scores", "quality of life"),
        ("nausea", "insomnia", "abnormal dreams"),
        ("Tobacco use remains the leading preventable cause of chronic lung disease.",
         "Pulmonary rehabilitation improves exercise capacity, yet fewer than one in ten eligible patients attend.",
         "Effective cessation pharmacotherapy is underused in routine primary care."),
        ("{intervention} increased abstinence among {population}.",
         "{intervention} is an effective alternative for {population}.",
         "Health systems should offer {intervention} to {population}."),
    ),
    # ------------------------------------------------------------------ Oncology Treatment Update
    Subtopic(
        "Immune checkpoint inhibitors", O,
        ("pd-1", "pd-l1", "checkpoint", "pembrolizumab", "nivolumab", "immunotherapy", "atezolizumab"),
        ("pembrolizumab plus chemotherapy", "perioperative nivolumab", "atezolizumab", "durvalumab consolidation"),
        ("chemotherapy alone", "placebo", "observation", "surgery alone"),
        ("patients with advanced non-small cell lung cancer", "patients with resectable lung cancer",
         "patients with metastatic melanoma", "patients with advanced urothelial carcinoma"),
        (Endpoint("overall survival", "hr"), Endpoint("event-free survival", "hr"),
         Endpoint("objective response rate", "diff", "percentage points", 15)),
        ("progression-free survival", "pathological complete response", "duration of response", "quality of life"),
        ("immune-related pneumonitis", "colitis", "hypothyroidism", "fatigue"),
        ("Immune checkpoint inhibitors have transformed the treatment of several advanced cancers.",
         "Programmed death 1 blockade is moving from metastatic disease to earlier treatment settings.",
         "Predicting which patients benefit from immunotherapy remains a major challenge."),
        ("{intervention} prolonged survival in {population}.",
         "{intervention} should be considered a standard option for {population}.",
         "Immune-related adverse events with {intervention} were manageable in {population}."),
    ),
    Subtopic(
        "Targeted therapy", O,
        ("egfr", "alk", "kras", "tyrosine kinase", "osimertinib", "targeted", "mutation"),
        ("osimertinib", "alectinib", "sotorasib", "an antibody-drug conjugate"),
        ("platinum-based chemotherapy", "placebo", "gefitinib", "docetaxel"),
        ("patients with EGFR-mutated non-small cell lung cancer", "patients with ALK-positive lung cancer",
         "patients with KRAS G12C-mutated tumors", "patients with HER2-low metastatic disease"),
        (Endpoint("progression-free survival", "hr"), Endpoint("disease-free survival", "hr"),
         Endpoint("intracranial response rate", "diff", "percentage points", 20)),
        ("overall survival", "central nervous system progression", "time to treatment failure", "objective response"),
        ("diarrhea", "rash", "interstitial lung disease", "elevated liver enzymes"),
        ("Molecular profiling identifies actionable driver alterations in a large share of lung cancers.",
         "Targeted therapies improve outcomes when matched to specific genomic alterations.",
         "Resistance to first-generation tyrosine kinase inhibitors limits the duration of benefit."),
        ("{intervention} improved progression-free survival in {population}.",
         "Comprehensive genomic testing should guide the use of {intervention} in {population}.",
         "{intervention} is a new standard for {population}."),
    ),
    Subtopic(
        "Breast cancer therapy", O,
        ("breast cancer", "hormone receptor", "her2", "cdk4/6", "palbociclib", "abemaciclib", "ribociclib", "endocrine therapy"),
        ("ribociclib plus endocrine therapy", "adjuvant abemaciclib", "trastuzumab deruxtecan", "palbociclib plus letrozole"),
        ("endocrine therapy alone", "letrozole alone", "trastuzumab emtansine", "chemotherapy"),
        ("women with hormone receptor-positive early breast cancer", "patients with HER2-positive metastatic breast cancer",
         "postmenopausal women with advanced breast cancer", "patients with high-risk node-positive breast cancer"),
        (Endpoint("invasive disease-free survival", "hr"), Endpoint("progression-free survival", "hr"),
         Endpoint("overall survival", "hr")),
        ("distant recurrence", "quality of life", "time to chemotherapy", "objective response"),
        ("neutropenia", "diarrhea", "fatigue", "QT prolongation"),
        ("Hormone receptor-positive breast cancer accounts for most breast cancer diagnoses.",
         "Cyclin-dependent kinase 4/6 inhibitors have improved outcomes in advanced breast cancer.",
         "Antibody-drug conjugates are reshaping treatment of HER2-expressing breast cancer."),
        ("{intervention} reduced recurrence in {population}.",
         "{intervention} should be offered to {population}.",
         "The benefit of {intervention} was consistent across subgroups of {population}."),
    ),
)

#: Area-level context sentences (shared vocabulary of an area's subtopics, so areas are
#: recoverable as topics, not only subtopics).
AREA_CONTEXT: dict[str, tuple[str, ...]] = {
    D: ("Type 2 diabetes affects more than 38 million people in the United States, and glycemic control remains "
        "suboptimal in many of them.",
        "Modern diabetes care targets glucose control, body weight and diabetic complications together.",
        "Poor glycemic control in diabetes drives kidney, eye and cardiovascular complications."),
    C: ("Cardiovascular disease remains the leading cause of death, and residual cardiovascular risk is high "
        "despite treatment.",
        "Prevention of myocardial infarction and stroke depends on controlling cardiovascular risk factors.",
        "Cardiovascular events and cardiac hospitalizations remain common among patients at high cardiovascular risk."),
    V: ("Vaccination is among the most effective preventive interventions, yet immunization coverage remains "
        "below public health targets.",
        "Vaccine hesitancy and missed vaccination opportunities lower immunization rates.",
        "Immunization programs rely on clinician recommendation, and vaccine uptake varies across communities."),
    T: ("Thyroid disorders are common and are usually managed with thyroid function tests and thyroid hormone "
        "treatment in primary care.",
        "Thyroid disease affects metabolism, mood and cardiovascular health, and thyroid care is often shared "
        "with endocrinologists.",
        "Abnormal thyroid function and thyroid gland disease are frequent findings in adults."),
    R: ("Chronic respiratory diseases impair lung function and breathing and are a major cause of disability.",
        "Airway inflammation, breathlessness and respiratory exacerbations drive respiratory care needs.",
        "Respiratory symptoms and lung function decline reduce quality of life in chronic airway disease."),
    O: ("Cancer treatment is evolving rapidly as new systemic therapies and tumor biomarkers reach oncology practice.",
        "Oncology care increasingly relies on tumor genomic profiling and novel anticancer therapies.",
        "Survival for patients with advanced cancer has improved with modern oncology treatments."),
}

SUBTOPIC_NAMES: tuple[str, ...] = tuple(s.name for s in SUBTOPICS)
#: Area index of every subtopic.
SUBTOPIC_AREA = np.array([AREAS.index(s.area) for s in SUBTOPICS])

_DESIGNS = (
    ("rct", "randomized controlled trial", 0.5),
    ("cohort", "retrospective cohort study", 0.3),
    ("meta", "systematic review and meta-analysis", 0.2),
)
_REGIONS = ("in the United States", "in North America and Europe", "in 14 countries", "in community practices",
            "in academic medical centers", "in a national health system")
_TRIAL_NAMES = ("ALTITUDE", "BEACON", "CASCADE", "DELTA", "EMBARK", "FRONTIER", "HORIZON", "KEYSTONE",
                "MERIDIAN", "NAVIGATE", "PINNACLE", "RESOLVE", "SUMMIT", "TRIDENT", "VANGUARD", "ZENITH")


def _cap(text: str) -> str:
    """Capitalise the first letter unless the first word is an acronym or a mixed-case term."""
    first = text.split(" ", 1)[0]
    if any(ch.isupper() for ch in first[1:]) or any(ch.isdigit() for ch in first):
        return text
    return text[:1].upper() + text[1:]


def _measure(endpoint: Endpoint) -> str:
    """The quantity an endpoint measures ("change in body weight" -> "body weight")."""
    return endpoint.name.removeprefix("percent change in ").removeprefix("change in ")


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _p_value(rng: np.random.Generator) -> str:
    p = float(rng.choice([0.001, 0.002, 0.004, 0.01, 0.02, 0.03, 0.04]))
    return "P<0.001" if p <= 0.001 else f"P={p:g}"


def _results(rng: np.random.Generator, sub: Subtopic, endpoint: Endpoint, intervention: str, comparator: str,
             design: str) -> str:
    if endpoint.kind == "hr":
        hr = float(rng.uniform(0.62, 0.88))
        width = float(rng.uniform(0.06, 0.14))
        base = float(rng.uniform(6, 28))
        treated = base * hr
        stat = f"hazard ratio {hr:.2f}; 95% CI {hr - width:.2f} to {min(hr + width, 0.97):.2f}; {_p_value(rng)}"
        if design == "meta":
            return (f"The pooled risk of {endpoint.name} was lower with {intervention} than with {comparator} "
                    f"({stat}), with moderate heterogeneity across trials.")
        follow = int(rng.integers(12, 49))
        if "survival" in endpoint.name:
            return (f"Over a median follow-up of {follow} months, {endpoint.name} was longer with {intervention} "
                    f"than with {comparator}; events occurred in {treated:.1f}% and {base:.1f}% of patients, "
                    f"respectively ({stat}).")
        return (f"Over a median follow-up of {follow} months, {endpoint.name} occurred in {treated:.1f}% of patients "
                f"receiving {intervention} and {base:.1f}% of those receiving {comparator} ({stat}).")
    diff = float(endpoint.scale * rng.uniform(0.6, 1.4))
    half = diff * float(rng.uniform(0.2, 0.45))
    digits = 1 if endpoint.scale < 20 else 0
    fmt = f"{{:.{digits}f}}"
    weeks = int(rng.choice([12, 24, 26, 40, 52]))
    tail = _pick(rng, ("", ", exceeding the prespecified minimal important difference",
                       ", with no heterogeneity across sites", ", and the effect persisted to the end of follow-up"))
    return (f"At {weeks} weeks, {_measure(endpoint)} improved by {fmt.format(diff)} {endpoint.unit} more with "
            f"{intervention} than with {comparator} (95% CI {fmt.format(diff - half)} to "
            f"{fmt.format(diff + half)}; {_p_value(rng)}){tail}.")


def generate_abstract(rng: np.random.Generator, sub: Subtopic) -> tuple[str, str]:
    """One readable (title, structured abstract) for subtopic ``sub``."""
    design_key, design_name, _ = _DESIGNS[int(rng.choice(len(_DESIGNS), p=[d[2] for d in _DESIGNS]))]
    intervention = _pick(rng, sub.interventions)
    comparator = _pick(rng, sub.comparators)
    population = _pick(rng, sub.populations)
    endpoint = _pick(rng, sub.endpoints)
    secondary = rng.choice(len(sub.secondary), size=2, replace=False)
    sec1, sec2 = sub.secondary[secondary[0]], sub.secondary[secondary[1]]
    trial = _pick(rng, _TRIAL_NAMES) + "-" + str(int(rng.integers(1, 5)))

    title_forms = [
        f"{_cap(intervention)} versus {comparator} for {_measure(endpoint)} in {population}",
        f"Effect of {intervention} on {_measure(endpoint)} among {population}",
        f"{_cap(intervention)} in {population}: "
        + (f"results of the {trial} trial" if design_key == "rct" else f"a {design_name}"),
        f"{_cap(_measure(endpoint))} with {intervention} compared with {comparator} in {population}",
    ]
    if design_key == "cohort":
        title_forms.append(f"Real-world outcomes of {intervention} in {population}")
    if design_key == "meta":
        title_forms.append(f"{_cap(intervention)} for {population}: a systematic review and meta-analysis")
    title = _pick(rng, title_forms)

    context = rng.choice(len(AREA_CONTEXT[sub.area]), size=2, replace=False)
    background = " ".join([AREA_CONTEXT[sub.area][context[0]], _pick(rng, sub.backgrounds),
                           AREA_CONTEXT[sub.area][context[1]]][:3 if rng.random() < 0.5 else 2])
    aim = _pick(rng, (
        f"We compared {intervention} with {comparator} for {_measure(endpoint)} in {population}.",
        f"This study assessed the effect of {intervention} on {_measure(endpoint)} in {population}.",
        f"Evidence on {_measure(endpoint)} with {intervention} in {population} remains limited.",
    ))
    if design_key == "rct":
        n = int(rng.integers(300, 6000))
        sites = int(rng.integers(12, 400))
        methods = (f"In this {design_name} ({trial}) conducted at {sites} sites {_pick(rng, _REGIONS)}, {n:,} "
                   f"{population} were randomly assigned in a 1:1 ratio to {intervention} or {comparator}. "
                   f"The primary endpoint was {endpoint.name}; secondary endpoints included {sec1} and {sec2}.")
    elif design_key == "cohort":
        n = int(rng.integers(2000, 90000))
        years = int(rng.integers(2015, 2021))
        methods = (f"We conducted a {design_name} of {n:,} {population} treated {_pick(rng, _REGIONS)} between "
                   f"{years} and {years + int(rng.integers(2, 5))}, comparing {intervention} with {comparator} after "
                   f"propensity score matching. Outcomes were {endpoint.name}, {sec1} and {sec2}.")
    else:
        k = int(rng.integers(6, 31))
        n = int(rng.integers(5000, 80000))
        methods = (f"We performed a {design_name} of {k} studies including {n:,} {population}, comparing "
                   f"{intervention} with {comparator}. Random-effects models were used to pool {endpoint.name}, "
                   f"{sec1} and {sec2}.")
    results = _results(rng, sub, endpoint, intervention, comparator, design_key)
    ae = _pick(rng, sub.adverse_events)
    a1 = float(rng.uniform(1.5, 12))
    a2 = a1 * float(rng.uniform(0.5, 0.95))
    safety = _pick(rng, (
        f"Results for {sec1} were consistent across prespecified subgroups. {_cap(ae)} occurred in {a1:.1f}% of "
        f"participants receiving {intervention} and {a2:.1f}% of those receiving {comparator}.",
        f"{_cap(sec1)} and {sec2} also favoured {intervention}. The most common adverse event was {ae} "
        f"({a1:.1f}% vs {a2:.1f}%).",
        f"No new safety signals were identified; {ae} was reported in {a1:.1f}% vs {a2:.1f}% of participants.",
    ))
    conclusion = _cap(_pick(rng, sub.conclusions).format(intervention=intervention, population=population))
    conclusion += _pick(rng, ("", "", " Longer follow-up is needed to confirm the durability of this effect.",
                              " Implementation in routine practice should be evaluated.",
                              " These results may inform shared decision-making."))
    abstract = (f"Background: {background} {aim} Methods: {methods} Results: {results} {safety} "
                f"Conclusions: {conclusion}")
    return _cap(title) + ".", abstract


def generate_catalogue(rng: np.random.Generator, n_items: int, subtopic_weights: np.ndarray | None = None
                       ) -> list[tuple[int, str, str]]:
    """``n_items`` unique ``(subtopic_idx, title, abstract)``; subtopics drawn by ``subtopic_weights``."""
    weights = np.ones(len(SUBTOPICS)) if subtopic_weights is None else np.asarray(subtopic_weights, float)
    subs = rng.choice(len(SUBTOPICS), size=n_items, p=weights / weights.sum())
    seen: set[str] = set()
    items = []
    for s in subs:
        for _ in range(50):  # titles are combinatorial; a few retries always find a new one
            title, abstract = generate_abstract(rng, SUBTOPICS[int(s)])
            if title.lower() not in seen:
                break
        else:
            raise RuntimeError(f"could not generate a unique title for subtopic {SUBTOPICS[int(s)].name!r}")
        seen.add(title.lower())
        items.append((int(s), title, abstract))
    return items


def assign_subtopics(texts: list[str], areas: list[str | None], rng: np.random.Generator) -> np.ndarray:
    """Subtopic index per real abstract: the best keyword match inside its area (any area when the
    area is unknown); a random subtopic of the area when nothing matches."""
    out = np.empty(len(texts), dtype=np.int64)
    for i, (text, area) in enumerate(zip(texts, areas)):
        low = f" {text.lower()} "
        candidates = ([j for j, s in enumerate(SUBTOPICS) if area is None or s.area == area]
                      or list(range(len(SUBTOPICS))))
        scores = np.array([sum(low.count(k) for k in SUBTOPICS[j].keywords) for j in candidates], float)
        if scores.max() > 0:
            out[i] = candidates[int(np.argmax(scores))]
        else:
            out[i] = candidates[int(rng.integers(len(candidates)))]
    return out
