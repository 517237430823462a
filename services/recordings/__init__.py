"""Call recordings (issue 18): which recording belongs to which call and orders, who may
hear it, what was heard by whom, and how long it is kept. Nothing here knows Asterisk:
the controller's adapter (telephony/recording.py) starts recordings and tells the store;
the audio files stay where the switch writes them.
"""
