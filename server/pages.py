"""The chat page."""
from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/bench")
def bench():
    """A blank same-origin page for `inpage bench`: the harness module is imported into it."""
    return render_template("bench.html")


@bp.get("/examples/openai")
def openai_example():
    """The page's OpenAI-compatible endpoint used with the official SDK: a form filled from free
    text through a JSON schema, and a tool call."""
    return render_template("openai_example.html")
