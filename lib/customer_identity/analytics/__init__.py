"""Analytics: who the customers are, what they buy and what drives a repeat purchase, on the golden tables."""
