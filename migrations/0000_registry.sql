CREATE TABLE `device_classes` (
	`project_id` integer NOT NULL,
	`id` text NOT NULL,
	`name` text NOT NULL,
	`creation_time` text NOT NULL,
	PRIMARY KEY(`project_id`, `id`),
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `devices` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` integer NOT NULL,
	`device_class` text NOT NULL,
	`name` text DEFAULT '' NOT NULL,
	`tag` text DEFAULT '' NOT NULL,
	`home_id` integer,
	`api_key_digest` text NOT NULL,
	`api_key_cipher` text NOT NULL,
	`claim_code_digest` text NOT NULL,
	`claim_code_cipher` text NOT NULL,
	`claim_time` text,
	`claim_expiration_time` text,
	`channel` text,
	`bundle_installed` text,
	`bundle_install_time` text,
	`is_connected` integer DEFAULT false NOT NULL,
	`last_connect_time` text,
	`last_disconnect_time` text,
	`creation_time` text NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`home_id`) REFERENCES `homes`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `devices_api_key_digest` ON `devices` (`api_key_digest`);--> statement-breakpoint
CREATE UNIQUE INDEX `devices_claim_code_digest` ON `devices` (`claim_code_digest`);--> statement-breakpoint
CREATE INDEX `devices_project` ON `devices` (`project_id`,`id`);--> statement-breakpoint
CREATE INDEX `devices_project_class` ON `devices` (`project_id`,`device_class`,`id`);--> statement-breakpoint
CREATE INDEX `devices_home` ON `devices` (`home_id`,`id`);--> statement-breakpoint
CREATE TABLE `home_members` (
	`home_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`role` text NOT NULL,
	`creation_time` text NOT NULL,
	PRIMARY KEY(`home_id`, `user_id`),
	FOREIGN KEY (`home_id`) REFERENCES `homes`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `home_members_user` ON `home_members` (`user_id`);--> statement-breakpoint
CREATE TABLE `homes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` integer NOT NULL,
	`name` text NOT NULL,
	`creation_time` text NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `homes_project` ON `homes` (`project_id`,`id`);--> statement-breakpoint
CREATE TABLE `project_api_keys` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` integer NOT NULL,
	`name` text NOT NULL,
	`admin` integer NOT NULL,
	`key_digest` text NOT NULL,
	`creation_time` text NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `project_api_keys_digest` ON `project_api_keys` (`key_digest`);--> statement-breakpoint
CREATE INDEX `project_api_keys_project` ON `project_api_keys` (`project_id`);--> statement-breakpoint
CREATE TABLE `projects` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`provisioning` text NOT NULL,
	`creation_time` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `provisioning_tokens` (
	`token_digest` text PRIMARY KEY NOT NULL,
	`project_id` integer NOT NULL,
	`home_id` integer NOT NULL,
	`device_class` text NOT NULL,
	`device_tag` text DEFAULT '' NOT NULL,
	`expiration_time` text NOT NULL,
	`used_time` text,
	`creation_time` text NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`home_id`) REFERENCES `homes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `provisioning_tokens_home` ON `provisioning_tokens` (`home_id`);--> statement-breakpoint
CREATE TABLE `user_sessions` (
	`token_digest` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`creation_time` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `user_sessions_user` ON `user_sessions` (`user_id`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` integer NOT NULL,
	`name` text NOT NULL,
	`email` text NOT NULL,
	`password_hash` text NOT NULL,
	`verified` integer DEFAULT false NOT NULL,
	`project_role` text,
	`creation_time` text NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_project_email` ON `users` (`project_id`,`email`);