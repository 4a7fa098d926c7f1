"""Resolution: standardised identity records, matched with Splink, clustered into the golden customer tables."""
