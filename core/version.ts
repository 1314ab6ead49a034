/** berth's version and the Docker Engine API version it speaks. A leaf module: cheap to load. */
export const VERSION = '0.1.0';
export const API_VERSION = '1.45';
