CREATE TABLE `firmware_rollout_targets` (
	`rollout_id` integer NOT NULL,
	`device_id` integer NOT NULL,
	`bundle_id` text NOT NULL,
	PRIMARY KEY(`rollout_id`, `device_id`),
	FOREIGN KEY (`rollout_id`) REFERENCES `firmware_rollouts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`device_id`) REFERENCES `devices`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `firmware_rollout_targets_device` ON `firmware_rollout_targets` (`device_id`,`bundle_id`);--> statement-breakpoint
CREATE TABLE `firmware_rollouts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` integer NOT NULL,
	`name` text NOT NULL,
	`bundle_id` text NOT NULL,
	`status` text NOT NULL,
	`stage` integer NOT NULL,
	`creation_time` text NOT NULL,
	`update_time` text NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `firmware_rollouts_project` ON `firmware_rollouts` (`project_id`,`id`);--> statement-breakpoint
ALTER TABLE `firmware_bundles` ADD `artifact_size` integer;--> statement-breakpoint
ALTER TABLE `firmware_bundles` ADD `artifact_sha256` text;--> statement-breakpoint
ALTER TABLE `firmware_bundles` ADD `artifact_time` text;