"""The semantic tags a span can take, each described in a sentence that is embedded with
the spans' model (enrichment tags by it; the semantic enricher of diamonds+ votes with it)."""

TAXONOMY: dict[str, str] = {
    "programming": "writing, explaining or debugging source code in a programming language",
    "data": "data analysis, SQL queries, spreadsheets, statistics and data processing",
    "devops": "servers, deployment, docker, kubernetes, cloud infrastructure and networking",
    "machine_learning": "machine learning, neural networks, training models and AI research",
    "math": "mathematics, equations, proofs, calculation and numerical problems",
    "science": "physics, chemistry, biology, medicine and scientific explanation",
    "writing": "writing an essay, article, story, poem, email or marketing copy",
    "business": "business strategy, marketing, sales, startups, finance and management",
    "education": "teaching, lesson plans, studying, exams and explaining a concept to a student",
    "health": "health, fitness, diet, nutrition, mental health and medical advice",
    "law": "legal questions, contracts, regulations and law",
    "translation": "translating text between languages or questions about language and grammar",
    "creative": "role play, fiction, games, jokes and imaginative creative writing",
    "advice": "personal advice, relationships, career guidance and everyday decisions",
    "history": "history, politics, religion, philosophy and society",
    "product": "product design, user experience, requirements and project planning",
}
