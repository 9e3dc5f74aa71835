"""The API: FastAPI behind gunicorn (uvicorn workers) behind nginx."""
