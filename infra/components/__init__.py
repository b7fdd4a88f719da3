"""One construct per concept; stacks compose them."""
