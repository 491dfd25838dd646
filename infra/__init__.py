"""Infrastructure: the names of the cloud resources, the local cloud and Terraform."""
