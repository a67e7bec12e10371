"""`python -m bot`: run the Telegram bot."""

from bot.app import main

if __name__ == "__main__":
    main()
