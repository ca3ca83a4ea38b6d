def make_config():
    return {"debug": False}
