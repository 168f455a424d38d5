"""The model contract between training and serving: the artifact's files, its metadata, the
feature layout and encoder, and the names the model and its features go by. Training
writes it, evaluation and registration read it, and the server loads it; each takes it
from here and nowhere else."""
