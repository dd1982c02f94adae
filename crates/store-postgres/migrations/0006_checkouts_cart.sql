-- Earlier checkouts of a cart, found when a newer one supersedes them.
CREATE INDEX checkouts_cart ON checkouts (cart_id);
