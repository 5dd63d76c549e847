CREATE TABLE `app_proxy_routes` (
	`project_id` integer NOT NULL,
	`src_path` text NOT NULL,
	`target_url` text NOT NULL,
	PRIMARY KEY(`project_id`, `src_path`),
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `app_proxy_secrets` (
	`project_id` integer PRIMARY KEY NOT NULL,
	`secret_cipher` text NOT NULL,
	`creation_time` text NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `firmware_bundle_components` (
	`project_id` integer NOT NULL,
	`bundle_id` text NOT NULL,
	`position` integer NOT NULL,
	`component_name` text NOT NULL,
	`component_version_name` text NOT NULL,
	PRIMARY KEY(`project_id`, `bundle_id`, `component_name`),
	FOREIGN KEY (`project_id`,`bundle_id`) REFERENCES `firmware_bundles`(`project_id`,`bundle_id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`project_id`,`component_name`,`component_version_name`) REFERENCES `firmware_component_versions`(`project_id`,`component_name`,`component_version_name`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `firmware_bundle_components_version` ON `firmware_bundle_components` (`project_id`,`component_name`,`component_version_name`);--> statement-breakpoint
CREATE TABLE `firmware_bundles` (
	`project_id` integer NOT NULL,
	`bundle_id` text NOT NULL,
	`creation_time` text NOT NULL,
	PRIMARY KEY(`project_id`, `bundle_id`),
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `firmware_bundles_list` ON `firmware_bundles` (`project_id`,`creation_time`);--> statement-breakpoint
CREATE TABLE `firmware_component_versions` (
	`project_id` integer NOT NULL,
	`component_name` text NOT NULL,
	`component_version_name` text NOT NULL,
	`device_config_schema` text NOT NULL,
	`creation_time` text NOT NULL,
	PRIMARY KEY(`project_id`, `component_name`, `component_version_name`),
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `firmware_component_versions_list` ON `firmware_component_versions` (`project_id`,`component_name`,`creation_time`);