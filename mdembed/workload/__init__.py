"""VNF-FG requests, their arrival process and the request tensor."""
