# Runs after boot.py on the board (and first on the host, see firmware/host).
import app

app.main()
