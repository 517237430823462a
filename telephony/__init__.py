"""The running controller: transports to Asterisk (ARI, AMI) and call control."""
