"""The endpoints, one router per resource (search, images, documents, jobs, health), and links: the
URLs of images and files that answers carry."""
